"""Getting Hyperion onto boards: bundle (firmware .mpy + models + manifest, with romfs and recipe), flash (esptool,
UF2 via uf2), deploy (A/B slots over the REPL: deploy.deploy/status/rollback) and fleet (many boards in batches).
May import: errors, files, paths, boards, firmware, model, device."""

from hyperion_host._lazy import lazy_api

__getattr__ = lazy_api(__name__, {"build_bundle": "bundle", "load_manifest": "bundle", "uf2_pack": "flash"})
__all__ = ["build_bundle", "load_manifest", "uf2_pack"]
