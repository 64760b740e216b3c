#!/usr/bin/env python3
"""Check that a folder follows the DEAM layout and formats (../shared/DEAM_FORMAT.md).

Usage: check_deam_layout.py ROOT   -> exit 0 and a one-line summary, or exit 1 naming the first faults.
Independent of the project's code: a verbatim copy of the team's shared checker, kept in
tests/ so that the synthetic-data tests run on a fresh clone.
"""
import csv
import io
import re
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

AVG = Path("DEAM_Annotations/annotations/annotations averaged per song")
DYN = AVG / "dynamic (per second annotations)"
STAT = AVG / "song_level"
H1 = "song_id, valence_mean, valence_std, arousal_mean, arousal_std"
H2 = ("song_id, valence_mean, valence_std, valence_ max_mean, valence_max_std, valence_min_mean, "
      "valence_min_std, arousal_mean, arousal_std, arousal_max_mean, arousal_max_std, "
      "arousal_min_mean, arousal_min_std")

faults = []
def fault(msg): faults.append(msg)

def read_dynamic(p: Path):
    text = p.read_text()
    rows = list(csv.reader(io.StringIO(text)))
    head = rows[0]
    if head[:3] != ["song_id", "sample_15000ms", "sample_15500ms"]:
        fault(f"{p.name}: header starts {head[:3]}")
    ms = [int(re.fullmatch(r"sample_(\d+)ms", h).group(1)) for h in head[1:]]
    if any(b - a != 500 for a, b in zip(ms, ms[1:])):
        fault(f"{p.name}: sample columns not at 500 ms steps")
    out, ragged = {}, 0
    for r in rows[1:]:
        if not r: continue
        vals = [float(v) if v.strip() not in ("", "NaN", "nan") else np.nan for v in r[1:]]
        v = np.array(vals + [np.nan] * (len(ms) - len(vals)))
        n = int(np.argmax(np.isnan(v))) if np.isnan(v).any() else len(v)
        if np.isnan(v[:n]).any(): fault(f"{p.name}: song {r[0]} has a gap inside its values")
        if n < len(v): ragged += 1
        if n and (np.nanmax(np.abs(v[:n])) > 1): fault(f"{p.name}: song {r[0]} outside [-1, 1]")
        out[int(r[0])] = n
    return out, ragged, len(ms)

def main(root: Path):
    if not (root / DYN / "arousal.csv").exists():
        fault(f"missing {DYN / 'arousal.csv'}")
        return
    dyn_a, ragged, ncols = read_dynamic(root / DYN / "arousal.csv")
    dyn_v, _, _ = read_dynamic(root / DYN / "valence.csv")
    if set(dyn_a) != set(dyn_v): fault("arousal.csv and valence.csv list different songs")
    static_ids = set()
    for name, head in (("static_annotations_averaged_songs_1_2000.csv", H1),
                       ("static_annotations_averaged_songs_2000_2058.csv", H2)):
        p = root / STAT / name
        if not p.exists():
            fault(f"missing {STAT / name}"); continue
        lines = p.read_text().splitlines()
        if lines[0] != head: fault(f"{name}: header is {lines[0]!r}")
        for ln in lines[1:]:
            f = ln.split(",")
            sid = int(f[0]); static_ids.add(sid)
            vals = [float(x) for x in f[1:] if x.strip()]
            means = [float(f[1]), float(f[3] if name.endswith("1_2000.csv") else f[7])]
            if not all(1 <= m <= 9 for m in means): fault(f"{name}: song {sid} mean outside 1..9")
            if name.endswith("2000_2058.csv") and not 2001 <= sid <= 2058: fault(f"{name}: id {sid} not in 2001..2058")
            if name.endswith("1_2000.csv") and not 1 <= sid <= 2000: fault(f"{name}: id {sid} not in 1..2000")
    if set(dyn_a) - static_ids: fault(f"{len(set(dyn_a) - static_ids)} dynamic songs lack static labels")
    audio = sorted((root / "DEAM_audio/MEMD_audio").glob("*.mp3"))
    if len(audio) < 10: fault(f"only {len(audio)} mp3 files in DEAM_audio/MEMD_audio"); return
    rates, chans, short, full = {}, {}, 0, 0
    for a in audio:
        if not re.fullmatch(r"\d+\.mp3", a.name): fault(f"audio name {a.name}")
        try:
            info = sf.info(str(a))
        except Exception:
            continue  # a deliberately corrupt file is allowed
        rates[info.samplerate] = rates.get(info.samplerate, 0) + 1
        chans[info.channels] = chans.get(info.channels, 0) + 1
        if info.duration < 45.0 and int(a.stem) <= 2000: short += 1
        if int(a.stem) > 2000: full += 1
    main_rate = max(rates, key=rates.get)
    if main_rate != 44100: fault(f"most audio is at {main_rate} Hz, not 44100")
    if chans.get(2, 0) < chans.get(1, 0): fault("most audio is not stereo")
    quirks = {"other rate": len(rates) > 1, "mono": 1 in chans, "short excerpt": short > 0,
              "2015 full song": full > 0, "ragged dynamic rows": ragged > 0}
    missing = [k for k, v in quirks.items() if not v]
    if missing: fault(f"no example of: {', '.join(missing)}")
    longest = max(dyn_a.values())
    print(f"layout ok: {len(audio)} mp3, {len(dyn_a)} annotated songs, {ncols} sample columns, "
          f"rates {rates}, channels {chans}, {short} short excerpts, {full} full songs")

if __name__ == "__main__":
    main(Path(sys.argv[1]))
    if faults:
        print("; ".join(faults[:6]))
        sys.exit(1)
