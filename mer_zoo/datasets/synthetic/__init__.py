"""Synthetic corpora with learnable emotion, one module per layout: DEAM, PMEmo and a CSV manifest.

`emotion` and `music` hold what they share (latent arousal/valence, the music that follows it,
the raters); `deam`, `pmemo` and `manifest` write it the way each release is laid out.
"""

from __future__ import annotations

from mer_zoo.datasets.synthetic.deam import (
    AUDIO,
    AVERAGED,
    DYNAMIC,
    SONG_LEVEL,
    STATIC_FILES,
    replicate_deam,
    write_synthetic_deam,
)
from mer_zoo.datasets.synthetic.manifest import write_synthetic_csv
from mer_zoo.datasets.synthetic.pmemo import write_synthetic_pmemo

__all__ = [
    "AUDIO",
    "AVERAGED",
    "DYNAMIC",
    "SONG_LEVEL",
    "STATIC_FILES",
    "replicate_deam",
    "write_synthetic_csv",
    "write_synthetic_deam",
    "write_synthetic_pmemo",
]
