import os

# Tests import the core, the trainer and testsupport from the checkout (pyproject: pythonpath = ["."]);
# they never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
