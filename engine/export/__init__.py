"""Exporters: ONNX with a parity check, standalone PyTorch code, safetensors weights.

Everything here imports torch (and onnx) at module level; the CLI imports these modules only
inside its handler so startup stays light.
"""


# The ONNX choices the CLI and the export dialog offer, here so that building their argument
# parser or form imports no torch.
MIN_OPSET = 7
NATIVE_OPSET = 18  # the oldest opset the dynamo exporter writes directly
DEFAULT_OPSET = 18
MAX_OPSET = 23
EXPORTERS = ("auto", "torchscript", "dynamo")


class ExportError(Exception):
    """An export that cannot be made or failed its check; the message names the block.

    ``code`` is the CLI's exit code: 1 for a failed export or parity check, 2 for bad usage
    or an unreadable file.
    """

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
