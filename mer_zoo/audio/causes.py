"""Why a file did not decode, said plainly: libsndfile's and FFmpeg's internal phrases mapped to causes.

Decoders report what went wrong inside them ("psf_fseek() failed", "flac decoder lost sync",
"[Errno 1094995529] Invalid data found when processing input: 'avcodec_send_packet()'"). A
person wants the cause ("truncated or damaged FLAC"); the original phrase is kept in
parentheses for whoever reports a bug.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from mer_zoo.errors import one_line

__all__ = ["decoder_phrase", "empty_file", "plain_cause"]

# (pattern on the decoder's phrase, plain cause); "{format}" is the file's kind from its suffix.
_PLAIN: tuple[tuple[str, str], ...] = (
    (
        r"lost sync|psf_fseek\(\) failed|unexpected end|end of file|truncated|short read",
        "truncated or damaged {format}",
    ),
    (r"malformed|no 'data' chunk|bad header|header.*(corrupt|invalid)", "damaged {format} header"),
    (r"unseekable|not seekable", "too short or damaged to read as {format}"),
    (
        r"does not exist|format not recognised|invalid data found|no audio stream|no sample rate",
        "not audio, or damaged beyond reading",
    ),
    (r"unspecified internal error|internal error", "damaged or unsupported {format} data"),
    (r"decoder not found|codec not (found|supported)|unsupported codec", "a codec this decoder does not have"),
    (r"sub-format|unsupported encoding|not supported", "an encoding this decoder does not support"),
    (r"permission denied", "permission denied"),
)
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")  # PyAV's prefix
_CALL = re.compile(r":\s*'[^']*'$")  # PyAV's suffix: the call or the file that failed
_OPENING = re.compile(r"^Error opening .*?:\s*")  # soundfile's prefix, with the path


def _format(path: str | Path) -> str:
    suffix = Path(path).suffix.lstrip(".").lower()
    return {"": "file", "oga": "Ogg", "ogg": "Ogg", "m4a": "AAC/ALAC (m4a)", "aif": "AIFF"}.get(suffix, suffix.upper())


def decoder_phrase(text: str) -> str:
    """The decoder's own phrase, without the parts that repeat the path or name an internal call."""
    text = one_line(text)
    text = _OPENING.sub("", text)
    text = _ERRNO.sub("", text)
    text = _CALL.sub("", text)
    return text.removeprefix("Error : ").strip().rstrip(".") or "no reason given"


def plain_cause(errors: str | Sequence[tuple[str, str]], path: str | Path) -> str:
    """A decoder's message about ``path`` as ``"plain cause (original phrase)"``.

    ``errors`` is one message, or ``(decoder, message)`` pairs when several decoders refused
    the file: the cause is the first that maps to one, and each original is named by its
    decoder. A phrase with no mapping is given as it is.
    """
    pairs = [("", errors)] if isinstance(errors, str) else list(errors)
    originals = [(decoder, decoder_phrase(text)) for decoder, text in pairs]
    said = "; ".join(f"{decoder}: {text}" if decoder else text for decoder, text in originals)
    for _, original in originals:
        for pattern, plain in _PLAIN:
            if re.search(pattern, original.lower()):
                return f"{plain.format(format=_format(path))} ({said})"
    return said


def empty_file(path: str | Path) -> str | None:
    """``"empty file (0 bytes)"`` when ``path`` holds nothing, else None (the decoders call it many things)."""
    try:
        return "empty file (0 bytes)" if Path(path).stat().st_size == 0 else None
    except OSError:
        return None
