"""`bench train`: training a codec's networks from a config (data files: tiny, paper).

- data: random crops from a folder or a dataset (the test sets are refused);
- checkpoint: a run folder (config.json, model.safetensors, train_state.pt, loss.csv) that
  `bench run --codecs NAME:checkpoint=DIR` reads and the same train command resumes;
- loop: stages, AdamW, learning-rate steps, progress bar, loss log, Ctrl-C safe.

A codec is trainable when its class has `build_model(config)` returning a module with
`loss(stage, images) -> (loss, {name: value})` and `trainable(stage) -> parameters`.
"""
