"""Song metadata for group splits: the readers pick it up from DEAM's, PMEmo's and CSV manifests' files as released."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_datasets_deam import make_deam
from test_datasets_pmemo import make_release

from mer_zoo.datasets import read_corpus
from mer_zoo.datasets.metadata import RESERVED, metadata_key, read_loose_table, read_metadata
from mer_zoo.store.layout import SONGS

# The headers of the real DEAM files, one per year; cells as the release pads them.
DEAM_2013 = (
    "song_id,file_name,Artist,Song title,start of the segment (min.sec),end of the segment (min.sec),Genre\n"
    '2,2.mp3,"Kevin MacLeod\t","Song A\t",0.30,1.15,"Classical\t"\n'
    '3,3.mp3,\t"Smith, Jane\t",\t"Song B\t",1.00,1.45,\t"Blues\t"\n'
)
DEAM_2014 = "Id,Artist,Album,Track,Genre\n1001,Kevin\u00a0MacLeod,Royalty Free,Song C,Classical,calm,piano,relaxing\n"
DEAM_2015 = "id,Filename,title,artist,album,genre\n2001,2001.mp3,Song D,n/a,N/A,Rock,Indie\n"


def _deam_with_metadata(root: Path, folder: str = "metadata") -> Path:
    make_deam(root, audio=(2, 3, 1001, 2001))
    meta = root / folder
    meta.mkdir(parents=True)
    (meta / "metadata_2013.csv").write_text(DEAM_2013, encoding="utf-8")
    (meta / "metadata_2014.csv").write_text(DEAM_2014, encoding="utf-8")
    (meta / "metadata_2015.csv").write_text(DEAM_2015, encoding="utf-8")
    return root


@pytest.mark.parametrize("folder", ["metadata", "metadata/metadata"])
def test_deam_reads_each_years_metadata_by_column_name(tmp_path: Path, folder: str) -> None:
    corpus = read_corpus(_deam_with_metadata(tmp_path, folder), "deam")
    meta = {song.song_id: dict(song.metadata) for song in corpus.songs}
    # the segment times are numbers, not groups; file names are not kept; titles share one name
    assert corpus.metadata_columns == ("artist", "title", "genre", "album")
    assert meta[2] == {"artist": "Kevin MacLeod", "title": "Song A", "genre": "Classical"}
    assert meta[3] == {"artist": "Smith, Jane", "title": "Song B", "genre": "Blues"}  # tab before the quote
    assert meta[1001] == {"artist": "Kevin MacLeod", "album": "Royalty Free", "title": "Song C", "genre": "Classical"}
    assert meta[2001] == {"title": "Song D", "genre": "Rock"}  # n/a and N/A are no value; trailing cells ignored


def test_deam_without_metadata_has_no_columns_and_a_bad_file_is_a_note(tmp_path: Path) -> None:
    assert read_corpus(make_deam(tmp_path / "plain"), "deam").metadata_columns == ()
    root = _deam_with_metadata(tmp_path / "bad")
    (root / "metadata" / "metadata_2014.csv").write_text("Artist,Album\nsomeone,something\n")
    corpus = read_corpus(root, "deam")
    meta = {song.song_id: dict(song.metadata) for song in corpus.songs}
    assert "artist" in corpus.metadata_columns and meta[1001] == {}  # its only source was the bad file
    assert any("metadata_2014.csv: no song id column" in note for note in corpus.notes)


def test_loose_tables_take_other_encodings_delimiters_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "meta.csv"
    path.write_bytes('musicId;Artist;Album\r\n7;Beyoncé;"4; deluxe"\r\n'.encode("cp1252"))
    table, notes = read_loose_table(path)
    assert table.header == ["musicId", "Artist", "Album"] and table.rows[0][1] == ["7", "Beyoncé", "4; deluxe"]
    assert notes and "read as cp1252" in notes[0]
    path.write_text("\ufeffsong_id\tGenre \t Mood\n5\t  Jazz\t\n6\tunknown\tcalm\n", encoding="utf-8")
    found = read_metadata(path, ("song_id",))
    assert found.columns == ("genre", "mood") and found.songs == {5: {"genre": "Jazz"}, 6: {"mood": "calm"}}
    path.write_text('id,artist\n1,"Open quote\n2,Next row\n')  # a quote left open spoils only its own line
    assert read_metadata(path, ("id",)).songs == {1: {"artist": "Open quote"}, 2: {"artist": "Next row"}}


def test_pmemo_reads_artist_and_album_from_metadata_csv(tmp_path: Path) -> None:
    root = make_release(tmp_path)
    (root / "metadata.csv").write_text(
        "musicId,fileName,title,artist,album,duration,chorus_start_time,chorus_end_time\n"
        '1,1.mp3,"Love, Again",Some Band,First,225.3,01:02,01:30\n'
        "2,2.mp3,Other,Some Band,,198.0,00:45,01:10\n",
        encoding="utf-8",
    )
    corpus = read_corpus(root, "pmemo")
    assert corpus.metadata_columns == ("title", "artist", "album")  # durations and clock times are not groups
    meta = {song.song_id: dict(song.metadata) for song in corpus.songs}
    assert meta[1] == {"title": "Love, Again", "artist": "Some Band", "album": "First"}
    assert meta[2] == {"title": "Other", "artist": "Some Band"} and meta[4] == {}


def test_a_csv_manifest_keeps_its_group_and_other_named_columns(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text(
        "path,arousal,valence,Group,Artist Name,valence_std\na.wav,5,5,1,X,0.5\nb.wav,6,4,1,,0.2\nc.wav,3,3,2,Y,0.1\n"
    )
    corpus = read_corpus(tmp_path, "csv", labels="labels.csv", scale="1..9")
    assert corpus.metadata_columns == ("group", "artist_name")  # numbers kept; a name the store uses is not
    assert [dict(s.metadata) for s in corpus.songs] == [
        {"group": "1", "artist_name": "X"},
        {"group": "1"},
        {"group": "2", "artist_name": "Y"},
    ]
    (tmp_path / "long.csv").write_text("song_id,time_s,arousal,valence,artist\n5,0,0,0,\n5,0.5,0,0,Z\n6,0,0,0,W\n")
    long = read_corpus(tmp_path, "csv", labels="long.csv", scale="-1..1")
    assert long.metadata_columns == ("artist",)
    assert {s.song_id: dict(s.metadata) for s in long.songs} == {5: {"artist": "Z"}, 6: {"artist": "W"}}


def test_stored_names_are_plain_and_never_replace_the_stores_own_columns() -> None:
    assert metadata_key(" Song title ") == "song_title" and metadata_key("start (min.sec)") == "start_min_sec"
    assert set(SONGS) <= RESERVED
