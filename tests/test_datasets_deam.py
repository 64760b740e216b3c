"""The DEAM reader on tiny hand-written folders in both layouts, quirks included."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mer_zoo.datasets import get_reader, list_readers, read_corpus
from mer_zoo.datasets.deam import read_deam
from mer_zoo.errors import InputError

KAGGLE = ("DEAM_Annotations/annotations", "DEAM_audio/MEMD_audio")
OFFICIAL = ("annotations", "MEMD_audio")
AVG = "annotations averaged per song"

AROUSAL = """song_id,sample_15000ms,sample_15500ms,sample_16000ms,sample_16500ms
2,0.1,0.2,0.3,
3,-0.5,-0.4,,
2001,0.9,0.8,0.7,0.6
"""
VALENCE = """song_id,sample_15000ms,sample_15500ms,sample_16000ms,sample_16500ms
2,-0.1,-0.2,-0.3,NaN
3,0.5,0.4,NaN,NaN
2001,0.0,0.1,0.2,0.3
"""
STATIC_1_2000 = """song_id, valence_mean, valence_std, arousal_mean, arousal_std
2, 3.1, 0.94, 3, 0.63
3, 5.0, 1.10, 6.4, 1.20
"""
STATIC_2000_2058 = (
    "song_id, valence_mean, valence_std, valence_ max_mean, valence_max_std, valence_min_mean, "
    "valence_min_std, arousal_mean, arousal_std, arousal_max_mean, arousal_max_std, "
    "arousal_min_mean, arousal_min_std\n"
    "2001,6.2,1.03,7.0,1.0,5.1,1.2,7.1,0.88,8.0,0.7,6.0,1.1\n"
)


def make_deam(root: Path, layout=KAGGLE, audio=(2, 3, 7), static=True, arousal=AROUSAL, valence=VALENCE) -> Path:
    """Write a tiny DEAM folder: annotations for 2, 3, 2001 and mp3 stand-ins for ``audio``."""
    annotations, audio_dir = (root / part for part in layout)
    dynamic = annotations / AVG / "dynamic (per second annotations)"
    dynamic.mkdir(parents=True)
    (dynamic / "arousal.csv").write_text(arousal)
    (dynamic / "valence.csv").write_text(valence)
    if static:
        level = annotations / AVG / "song_level"
        level.mkdir(parents=True)
        (level / "static_annotations_averaged_songs_1_2000.csv").write_text(STATIC_1_2000)
        (level / "static_annotations_averaged_songs_2000_2058.csv").write_text(STATIC_2000_2058)
    audio_dir.mkdir(parents=True)
    for song_id in audio:
        (audio_dir / f"{song_id}.mp3").write_bytes(b"not decoded by the reader")
    return root


def by_id(corpus):
    return {song.song_id: song for song in corpus.songs}


@pytest.mark.parametrize("layout", [KAGGLE, OFFICIAL], ids=["kaggle", "official"])
def test_reads_both_layouts(tmp_path: Path, layout) -> None:
    corpus = read_deam(make_deam(tmp_path, layout))
    assert corpus.name == "deam" and corpus.root == tmp_path and corpus.notes == []
    assert [s.song_id for s in corpus.songs] == [2, 3, 7, 2001]
    song = by_id(corpus)[2]
    assert song.audio_path == tmp_path / layout[1] / "2.mp3"
    np.testing.assert_array_equal(song.times_s, [15.0, 15.5, 16.0])
    assert song.times_s.dtype == np.float64 and song.arousal.dtype == np.float32
    np.testing.assert_allclose(song.arousal, [0.1, 0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(song.valence, [-0.1, -0.2, -0.3], rtol=1e-6)


def test_empty_and_nan_tails_are_stripped(tmp_path: Path) -> None:
    songs = by_id(read_deam(make_deam(tmp_path)))
    np.testing.assert_array_equal(songs[3].times_s, [15.0, 15.5])
    np.testing.assert_allclose(songs[3].valence, [0.5, 0.4], rtol=1e-6)
    assert len(songs[2001].times_s) == 4
    for song in songs.values():
        assert not np.isnan(song.arousal).any() and not np.isnan(song.valence).any()
        assert len(song.times_s) == len(song.arousal) == len(song.valence)


def test_static_headers_with_spaces_and_the_max_mean_quirk(tmp_path: Path) -> None:
    songs = by_id(read_deam(make_deam(tmp_path)))
    assert songs[2].static == {"valence_mean": 3.1, "valence_std": 0.94, "arousal_mean": 3.0, "arousal_std": 0.63}
    assert songs[2001].static["valence_mean"] == 6.2 and songs[2001].static["arousal_mean"] == 7.1
    assert songs[2001].static["arousal_std"] == 0.88


def test_audio_without_labels_is_kept_with_empty_arrays(tmp_path: Path) -> None:
    song = by_id(read_deam(make_deam(tmp_path)))[7]
    assert song.audio_path.exists()
    assert song.times_s.size == song.arousal.size == song.valence.size == 0
    assert all(math.isnan(v) for v in song.static.values())


def test_labels_without_audio_keep_their_expected_path(tmp_path: Path) -> None:
    song = by_id(read_deam(make_deam(tmp_path)))[2001]
    assert song.audio_path == tmp_path / KAGGLE[1] / "2001.mp3"
    assert not song.audio_path.exists()


def test_missing_optional_files_become_notes(tmp_path: Path) -> None:
    root = make_deam(tmp_path, static=False)
    (root / KAGGLE[1] / "2.mp3").unlink()
    corpus = read_deam(root)
    assert len(corpus.notes) == 2 and all("static_annotations_averaged" in n for n in corpus.notes)
    assert math.isnan(by_id(corpus)[2].static["arousal_mean"])


def test_missing_audio_folder_is_a_note(tmp_path: Path) -> None:
    root = make_deam(tmp_path, audio=())
    (root / KAGGLE[1]).rmdir()
    corpus = read_deam(root)
    assert [s.song_id for s in corpus.songs] == [2, 3, 2001]
    assert any("no audio folder" in n for n in corpus.notes)


def test_song_missing_from_one_dynamic_file_has_no_dynamic_labels(tmp_path: Path) -> None:
    valence = "\n".join(VALENCE.splitlines()[:3]) + "\n"  # no row for 2001
    song = by_id(read_deam(make_deam(tmp_path, valence=valence)))[2001]
    assert song.times_s.size == 0


def test_missing_root_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        read_deam(tmp_path / "nowhere")


def test_no_dynamic_annotations_names_the_paths_looked_for(tmp_path: Path) -> None:
    (tmp_path / "MEMD_audio").mkdir()
    with pytest.raises(InputError, match="no DEAM dynamic annotations") as err:
        read_deam(tmp_path)
    assert "DEAM_Annotations" in str(err.value) and "dynamic (per second annotations)" in str(err.value)


def test_missing_valence_file_is_an_input_error(tmp_path: Path) -> None:
    root = make_deam(tmp_path)
    (root / KAGGLE[0] / AVG / "dynamic (per second annotations)" / "valence.csv").unlink()
    with pytest.raises(InputError, match="valence.csv"):
        read_deam(root)


def test_malformed_dynamic_header_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="arousal.csv: expected columns"):
        read_deam(make_deam(tmp_path, arousal="id,a,b\n1,2,3\n"))


def test_a_song_id_that_is_not_a_number_is_an_input_error_naming_its_line(tmp_path: Path) -> None:
    arousal = AROUSAL.replace("\n3,", "\nthree,")
    with pytest.raises(InputError, match=r"arousal.csv: 1 bad row\(s\): line 3: song_id 'three' is not an integer id"):
        read_deam(make_deam(tmp_path, arousal=arousal))


def test_release_quirks_bom_crlf_spaces_nan_text_and_a_repeated_row(tmp_path: Path) -> None:
    # every row as wide as the longest song's; BOM, CRLF, spaces after commas, NaN and NA text,
    # a cell that is not a number, and song 2 twice (the first row counts)
    header = "song_id," + ",".join(f"sample_{15000 + 500 * i}ms" for i in range(200))
    rows = ["2, 0.1,0.2,NA" + "," * 197, "3,-0.5,oops,NaN,-0.2" + "," * 196, "2,0.9" + "," * 199]
    arousal = "\ufeff" + "\r\n".join([header, *rows]) + "\r\n"
    songs = by_id(read_deam(make_deam(tmp_path, arousal=arousal)))
    np.testing.assert_array_equal(songs[2].times_s, [15.0, 15.5])
    np.testing.assert_allclose(songs[2].arousal, [0.1, 0.2], rtol=1e-6)
    np.testing.assert_array_equal(songs[3].times_s, [15.0])  # valence ends at 15.5 s, arousal is NaN there
    np.testing.assert_allclose(songs[3].arousal, [-0.5], rtol=1e-6)
    assert songs[2001].times_s.size == 0  # no arousal row


def test_registry(tmp_path: Path) -> None:
    assert "deam" in list_readers()
    assert get_reader("DEAM") is read_deam
    assert [s.song_id for s in read_corpus(make_deam(tmp_path)).songs] == [2, 3, 7, 2001]
    assert list_readers() == ["csv", "deam", "pmemo"]
    with pytest.raises(InputError, match=r"unknown dataset 'deem'; did you mean deam\?"):
        get_reader("deem")
    with pytest.raises(InputError, match="unknown dataset 'emomusic'; known datasets: csv, deam, pmemo"):
        get_reader("emomusic")
    with pytest.raises(InputError, match="--dataset deam does not take --labels"):
        read_corpus(make_deam(tmp_path / "again"), "deam", labels="x.csv")
