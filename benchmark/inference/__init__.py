"""Inference: sliding-window prediction on the device (``sliding_window``), top-k and random-k
ensembles of a run (``ensembles``), streaming segmentation of any volume and annotator agreement
(``segment``), connected-component post-processing (``postprocess``)."""
