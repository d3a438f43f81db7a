"""Test helper: pytorchvideo's SlowFast-R50, an independent definition of the network, importable without
torchvision. pytorchvideo's head module imports `torchvision.ops.RoIAlign` (used only by detection heads); a stub
module stands in for it here, in tests only, never in the library."""
import sys, types


def pytorchvideo_slowfast():
    "pytorchvideo's `create_slowfast(model_depth=50)` (Kinetics-400 SlowFast 8x8 R50), random weights."
    if "torchvision" not in sys.modules:
        tv, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
        ops.RoIAlign = type("RoIAlign", (), {})
        tv.ops = ops
        sys.modules["torchvision"], sys.modules["torchvision.ops"] = tv, ops
    from pytorchvideo.models.slowfast import create_slowfast
    return create_slowfast(model_depth=50)
