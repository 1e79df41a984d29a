"""Exporters: ONNX with a parity check, standalone PyTorch code, safetensors weights.

Everything here imports torch (and onnx) at module level; the CLI imports these modules only
inside its handler so startup stays light.
"""


class ExportError(Exception):
    """An export that cannot be made or failed its check; the message names the block.

    ``code`` is the CLI's exit code: 1 for a failed export or parity check, 2 for bad usage
    or an unreadable file.
    """

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
