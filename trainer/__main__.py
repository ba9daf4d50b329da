import logging
import os
import sys

from .cli import main

code = main()
if int(os.environ.get("WORLD_SIZE", "1")) > 1:
    # A torchrun worker whose run is over (the process group is already destroyed): leave without the
    # interpreter's finalisation, where gloo's C++ threads can still abort a finished run with SIGABRT
    # ("terminate called without an active exception"; pytorch/pytorch#179291), failing the whole job.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
