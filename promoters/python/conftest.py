# The shipped Python policies import the SDK from the repository's sdk/python.
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "sdk" / "python"))
