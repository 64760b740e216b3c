"""Worker tasks that die on one song or file, as a decoder crash would kill its worker (importable by workers)."""

from __future__ import annotations

import os
from typing import Any

from mer_zoo.pipeline.extract import extract_songs
from mer_zoo.pipeline.predict_many import extract_files

CRASHING_SONG = "MER_ZOO_TEST_CRASHING_SONG"  # the song id, in the workers' environment
CRASHING_FILE = "MER_ZOO_TEST_CRASHING_FILE"  # the file's name, in the workers' environment


def crash_on_one_song(songs: list[Any], job: Any) -> list[Any]:
    """``extract_songs``, except that the worker process exits at once on the song named by ``$CRASHING_SONG``."""
    if any(str(song.song_id) == os.environ.get(CRASHING_SONG) for song in songs):
        os._exit(3)
    return extract_songs(songs, job)


def crash_on_one_file(paths: list[str], job: Any) -> list[Any]:
    """``extract_files``, except that the worker process exits at once on the file named by ``$CRASHING_FILE``."""
    if any(os.path.basename(path) == os.environ.get(CRASHING_FILE) for path in paths):
        os._exit(3)
    return extract_files(paths, job)
