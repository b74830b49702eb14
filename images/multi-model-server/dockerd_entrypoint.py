"""Container entry point: `serve` starts Multi Model Server with our handler; anything else is executed."""

from __future__ import annotations

import subprocess
import sys


def main(argv: list[str]) -> int:
    if argv and argv[0] == "serve":
        from sagemaker_inference import model_server  # only inside the image

        # The toolkit binds to SAGEMAKER_BIND_TO_PORT when set (8080 otherwise) and enables MME mode when
        # SageMaker sets SAGEMAKER_MULTI_MODEL=true.
        model_server.start_model_server(handler_service="/opt/program/model_handler.py:handle")
        # start_model_server keeps the process alive while the server runs.
        return 0
    return subprocess.call(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
