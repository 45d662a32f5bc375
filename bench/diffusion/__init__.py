"""The latent diffusion codec toolkit: the machinery the three diffusion codecs of the papers
share, in one place.

- autoencoders: the latent spaces (sd, taesd, kl-f4, tiny) through diffusers, from local folders;
- quantizers: rounding, quantization scaling, universal quantization (pure functions);
- entropy: a hyperprior + channel-slice mean-scale model (CompressAI's blocks) with an extra
  conditioning input (rate parameter, timestep map), a pluggable quantization step and a
  dithered grid coded with exact fractional means (constriction);
- quadtree: a hyperprior with integer z + a 4-step quadtree context on an absolute grid (CADC);
- denoisers: diffusers U-Nets and EDM preconditioning;
- text: BLIP captions, the SD text encoder and CLIP image embeddings from local folders (CADC);
- discriminator: PatchGAN or a frozen DINOv2 backbone with conv heads, hinge losses;
- spatial_unet: per-pixel timestep maps for a stock (pretrained) diffusers U-Net;
- schedules: SD's DDPM noise schedule, the DDIM step grid and timestep resampling;
- timestep_maps: lossless coding of per-pixel timestep maps, random training maps;
- samplers: the reverse processes (the rate-variable SDE's Euler/stochastic steps; DDIM with
  v-prediction along per-pixel step maps, RePaint over regions);
- model: what the codecs' networks share (stage parameter groups, device placement);
- codec: the base adapter (a config, a trained checkpoint folder, one model for all rates);
- config: model configurations as TOML data files (tiny, paper) with overrides.

Training (`bench train`) lives in bench.train; the codecs themselves in codecs/.
"""
