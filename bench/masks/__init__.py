"""ROI masks: mask sets on disk, pairing with images, generators, level maps, overlays."""
