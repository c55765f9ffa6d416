"""Training one instance: profiles and the planner that resolves them (``config``, ``planner``),
windows, augmentation and loss weights on the device (``windows``, ``augment``, ``weights``),
the loss and the optimizer step (``loss``, ``step``), the fast path (``fastpath``, ``graphs``,
``device``), ``train_instance`` (``instance``), its results and checkpoints (``results``,
``checkpoints``) and step-time measurement (``perf``)."""
