"""Maintainer tools: re-execute notebooks (``make notebooks``), generate student copies (``make student``)."""
