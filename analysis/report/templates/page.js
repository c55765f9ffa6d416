(function () {
  "use strict";
  var CONFIG = {responsive: true, displaylogo: false, scrollZoom: false};
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function fg() {
    var c = getComputedStyle(document.documentElement).getPropertyValue("--fg").trim();
    return c || "#7f7f7f";
  }
  var divs = [], pending = [];
  document.querySelectorAll("script.plotly-figure").forEach(function (node) {
    var div = document.getElementById(node.dataset.target);
    var spec = JSON.parse(node.textContent);
    spec.layout = spec.layout || {};
    spec.layout.font = Object.assign({}, spec.layout.font || {}, {color: fg()});
    pending.push(Plotly.newPlot(div, spec.data, spec.layout, CONFIG));
    divs.push(div);
  });
  Promise.all(pending).then(function () {
    document.body.dataset.figures = String(divs.length);
    document.body.dataset.rendered = "true";
  }, function (err) { console.error("figure failed to render", err); });
  function retheme() {
    var color = fg();
    divs.forEach(function (div) { Plotly.relayout(div, {"font.color": color}); });
  }
  if (media) {
    if (media.addEventListener) { media.addEventListener("change", retheme); }
    else if (media.addListener) { media.addListener(retheme); }
  }
  document.querySelectorAll(".viewer").forEach(function (viewer) {
    var data = JSON.parse(viewer.querySelector("script.slice-data").textContent);
    var slider = viewer.querySelector(".zslider");
    var select = viewer.querySelector("select.arch");
    var label = viewer.querySelector(".zlabel");
    function img(cls) { return viewer.querySelector("img." + cls); }
    function show() {
      var i = parseInt(slider.value, 10);
      label.textContent = "z = " + data.z[i] + " (" + (i + 1) + " of " + data.z.length + ")";
      img("v-image").src = data.image[i];
      img("v-truth").src = data.truth[i];
      if (select) {
        img("v-pred").src = data.pred[select.value][i];
        img("v-error").src = data.error[select.value][i];
      }
    }
    slider.addEventListener("input", show);
    if (select) { select.addEventListener("change", show); }
    show();
  });
})();
