"""The report as one self-contained HTML page: no external asset, no network.

Videos are ``<video>`` elements with base64 ``data:`` URIs (or links beside
the page when ``report.embed_videos`` is false), keyframes small JPEG copies,
charts PNGs, all inline. A few lines of script play a row of videos together
so they can be compared frame for frame.
"""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

from PIL import Image, ImageOps

from vidgen._version import __version__
from vidgen.shootout.report import (
    PLAN_HEADER,
    SCORE_HEADER,
    ReportData,
    conversion_text,
    next_steps,
    num,
    plan_rows,
    score_rows,
    status_text,
)
from vidgen.shootout.score import ContenderScore, VideoResult

__all__ = ["render_html"]

CSS = """
:root{--ink:#1d232a;--mute:#5f6b76;--line:#dde3e8;--bg:#f6f8fa;--win:#1b5e20;--ok:#2e7d32;
--wait:#b26a00;--out:#c62828}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
sans-serif;color:var(--ink);background:#fff}main{max-width:1280px;margin:0 auto;padding:24px}
h1{font-size:28px;margin:0 0 4px}h2{font-size:21px;margin:36px 0 10px;border-bottom:1px solid
var(--line);padding-bottom:4px}h3{font-size:16px;margin:18px 0 6px}.sub{color:var(--mute)}
nav a{margin-right:14px;color:var(--mute);text-decoration:none}nav a:hover{color:var(--ink)}
.verdict{border-radius:8px;padding:14px 18px;margin:18px 0;border:1px solid var(--line)}
.verdict.win{background:#e8f5e9;border-color:#a5d6a7}.verdict.wait{background:#fff8e1;
border-color:#ffe082}.verdict.none{background:#ffebee;border-color:#ef9a9a}
.verdict h2{border:0;margin:0 0 6px;padding:0}.warn{background:#fff3e0;border-left:4px solid
#ef6c00;padding:8px 12px;margin:8px 0}table{border-collapse:collapse;width:100%;font-size:13px;
margin:8px 0}th,td{border-bottom:1px solid var(--line);padding:5px 7px;text-align:left;
vertical-align:top}th{background:var(--bg);font-weight:600}tr.eliminated td{color:#7a4b4b}
.scroll{overflow-x:auto}.badge{display:inline-block;border-radius:10px;padding:0 8px;
font-size:12px;color:#fff;white-space:nowrap}.b-winner{background:var(--win)}.b-ranked{
background:var(--ok)}.b-awaiting{background:var(--wait)}.b-eliminated{background:var(--out)}
.b-t2v{background:#6a1b9a}.grid{display:flex;gap:12px;overflow-x:auto;padding-bottom:8px}
figure{margin:0;flex:0 0 auto;width:240px}figure img,figure video{width:100%;border-radius:4px;
background:#000;display:block}figcaption{font-size:12px;color:var(--mute);margin-top:4px}
figcaption b{color:var(--ink)}.empty{height:180px;border:1px dashed var(--line);border-radius:4px;
display:flex;align-items:center;justify-content:center;color:var(--mute);font-size:12px;
padding:8px;text-align:center}.charts img{max-width:100%;border:1px solid var(--line);
border-radius:6px}button{font:inherit;font-size:13px;padding:2px 10px;margin-left:8px}
code{background:var(--bg);padding:0 4px;border-radius:3px}td.num{text-align:right}
"""

SCRIPT = """
document.querySelectorAll('button[data-row]').forEach(function (button) {
  button.addEventListener('click', function () {
    var row = document.getElementById(button.dataset.row);
    row.querySelectorAll('video').forEach(function (video) {
      video.currentTime = 0;
      var playing = video.play();
      if (playing && playing.catch) { playing.catch(function () {}); }
    });
  });
});
"""


def _badge(kind: str, text: str) -> str:
    return f'<span class="badge b-{kind}">{escape(text)}</span>'


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    """A table of already escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(f'<tr class="{classes[i] if classes else ""}">'
                   + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for i, row in enumerate(rows))
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>' \
           f"</table></div>"


def _keyframe_uri(path: Path) -> str:
    """A JPEG copy, at most 720 pixels tall, as a data URI."""
    with Image.open(path) as image:
        picture = ImageOps.exif_transpose(image).convert("RGB")
    picture.thumbnail((720, 720))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _video_cell(video: VideoResult | None, entry: ContenderScore, out_dir: Path, embed: bool,
                failed: str | None) -> str:
    caption = f"<b>{escape(entry.label)}</b>"
    if entry.metrics.text_to_video:
        caption += " " + _badge("t2v", "text-to-video")
    if video is None:
        why = f"failed: {escape(failed)}" if failed else "not made yet"
        return f'<figure><div class="empty">{why}</div><figcaption>{caption}</figcaption></figure>'
    if embed:
        data = base64.b64encode((out_dir / video.path).read_bytes()).decode()
        source = f"data:video/mp4;base64,{data}"
    else:
        source = escape(video.path)
    return (f'<figure><video src="{source}" controls muted loop playsinline preload="auto" '
            f'title="{escape(video.video_id)}"></video><figcaption>{caption}<br>'
            f"{num(video.seconds)} s · SSIM {num(video.ssim_mean, 3)} · flash "
            f"{video.flash_frames} · QC {escape(video.verdict)}</figcaption></figure>")


def _videos(data: ReportData, out_dir: Path) -> str:
    """One row per keyframe x seed: the keyframe, then each contender's video."""
    parts = []
    embed = data.config.report.embed_videos
    for keyframe in data.keyframes:
        uri = _keyframe_uri(keyframe)
        for seed in data.config.inputs.seeds:
            row_id = f"row-{escape(keyframe.stem)}-{seed}"
            cells = [f'<figure><img src="{uri}" alt="keyframe {escape(keyframe.name)}">'
                     f"<figcaption><b>keyframe</b> {escape(keyframe.name)}</figcaption></figure>"]
            for entry in data.board.contenders:
                video = next((v for v in entry.input.videos if v.keyframe == keyframe.stem
                              and v.seed == seed), None)
                failed = next((f.error for f in entry.input.failures
                               if f.keyframe == keyframe.stem and f.seed == seed), None)
                cells.append(_video_cell(video, entry, out_dir, embed, failed))
            parts.append(f'<h3>{escape(keyframe.stem)}, seed {seed}<button type="button" '
                         f'data-row="{row_id}">play together</button></h3>'
                         f'<div class="grid" id="{row_id}">{"".join(cells)}</div>')
    return "".join(parts)


def _scores(data: ReportData) -> str:
    board = data.board
    rows = [[escape(cell) for cell in row] for row in score_rows(data)]
    for row, entry in zip(rows, board.contenders, strict=True):
        kind = "winner" if entry is board.winner else entry.status
        row[2] = _badge(kind, status_text(board, entry))
    header = [escape(h.format(ref=data.config.gpu.reference)) for h in SCORE_HEADER]
    html = _table(header, rows, [c.status for c in board.contenders])
    if board.eliminations:
        html += "<h3>Every elimination reason</h3><ul>" + "".join(
            f"<li><b>{escape(e.contender)}</b>: {escape(e.rule)}: {escape(e.value)} "
            f"(limit: {escape(e.limit)})</li>" for e in board.eliminations) + "</ul>"
    return html


def _measurements(data: ReportData) -> str:
    header = ["contender", "backend / template", "device", "videos", "measured s/video",
              f"s/video on {escape(data.config.gpu.reference)}", "load s", "peak VRAM GB",
              "SSIM mean", "worst video", "lowest pair", "flash", "temporal variance",
              "flicker", "first-frame SSIM", "dynamic", "artifacts", "viable", "hours"]
    rows = []
    for c in data.board.contenders:
        m = c.metrics
        yes, answered = m.viable
        rows.append([escape(c.label), escape(f"{c.input.backend} {c.input.template}".strip()),
                     escape(c.input.device or "-"), str(m.videos), num(m.measured_sec),
                     num(m.reference_sec), num(m.load_sec, 1), num(m.vram_gb, 1),
                     num(m.ssim_mean, 3), num(m.ssim_worst, 3), num(m.ssim_min, 3),
                     "-" if m.flash_frames is None else str(m.flash_frames),
                     num(m.temporal_variance), num(m.flicker, 4), num(m.fidelity_ssim, 3),
                     num(m.dynamic), "-" if m.artifacts is None else str(m.artifacts),
                     f"{yes} of {answered}" if answered else "-", f"{c.input.hours:.4f}"])
    return _table(header, rows)


def _cost(data: ReportData) -> str:
    costs = data.costs
    rows = [[escape(r.label), f"{r.hours:.4f}", f"${r.usd:.2f}", str(r.videos),
             "-" if r.per_video is None else f"${r.per_video:.4f}"] for r in costs.rows]
    rows.append(["setup and idle (gpu.extra_hours)", f"{costs.extra_hours:.4f}",
                 f"${costs.extra_hours * costs.hourly_usd:.2f}", "", ""])
    rows.append(["<b>total</b>", f"<b>{costs.hours:.4f}</b>", f"<b>${costs.usd:.2f}</b>",
                 f"<b>{costs.videos}</b>", "-" if costs.per_video is None else
                 f"<b>${costs.per_video:.4f}</b>"])
    return (f"<p>Hourly rate ${costs.hourly_usd:g} (gpu.hourly_usd); hours are the measured "
            f"wall time of every run session (model loads included) plus gpu.extra_hours.</p>"
            + _table(["contender", "hours", "cost", "videos", "cost per video"], rows))


def _plan(data: ReportData) -> str:
    plan = data.plan
    if plan is None:
        return "<p>No contender to plan for: every one was eliminated or made no video.</p>"
    who = f"the provisional leader <b>{escape(plan.label)}</b> (no winner yet)" \
        if plan.provisional else f"the winner <b>{escape(plan.label)}</b>"
    inp = plan.input
    lines = "".join(f"<h3>{escape(p.input.topology)}</h3><ul>" + "".join(
        f"<li>{escape(line)}</li>" for line in p.summary_lines()) + "</ul>" for p in plan.plans)
    return (f"<p>For {who}: {inp.seconds_per_video:g} s per video on {escape(inp.gpu)}, "
            f"{inp.gpus} GPU(s) at ${inp.hourly_usd:g}/h each, interpolation "
            f"{inp.interpolate_sec:g} s and encoding {inp.encode_sec:g} s per video, "
            f"{inp.cpu_workers} CPU worker(s), target {inp.target_per_day:,} videos/day.</p>"
            + _table(list(PLAN_HEADER), [[escape(c) for c in row] for row in plan_rows(plan)])
            + lines)


def _review(data: ReportData) -> str:
    sheet = data.sheet
    rows = []
    for video in data.videos:
        rating = sheet.ratings.get(video.video_id)

        def cell(value: object) -> str:
            return "" if value is None else escape(str(value))

        viable = None if rating is None or rating.viable is None else \
            ("yes" if rating.viable else "no")
        rows.append([escape(video.video_id), escape(video.contender), escape(video.keyframe),
                     str(video.seed), cell(rating and rating.fidelity),
                     cell(rating and rating.smoothness), cell(rating and rating.artifacts),
                     cell(viable), cell(rating and rating.notes)])
    return (f"<p>{len(sheet.ratings)} of {len(data.videos)} video(s) rated. Open "
            f"<code>{escape(data.ratings_name)}</code> (beside this report) in a spreadsheet, "
            "fill one row per video: first-frame fidelity 1-5 (does the first frame match "
            "the keyframe?), motion smoothness 1-5, artifact count, commercially viable yes or "
            "no, notes. Save it as CSV and run the same <code>vidgen shootout</code> command "
            "again: nothing is generated again, the scores and this page are.</p>"
            + _table(["video", "contender", "keyframe", "seed", "first-frame fidelity",
                      "motion smoothness", "artifacts", "viable", "notes"], rows))


def _method(data: ReportData) -> str:
    rules, config = data.config.scoring, data.config
    w = rules.weights
    return (
        "<ul>"
        f"<li>Weights: speed {w.speed:.0%}, temporal quality {w.temporal:.0%}, first-frame "
        f"fidelity {w.fidelity:.0%}, VRAM {w.vram:.0%}.</li>"
        f"<li>Thresholds (failing any eliminates): every video made; seconds per video &lt; "
        f"{rules.speed_below_sec:g} on {escape(config.gpu.reference)}; every video's mean SSIM "
        f"&gt; {rules.ssim_above:g}; flash frames &le; {rules.flash_frames_max}; mean "
        f"first-frame fidelity rating &gt; {rules.fidelity_above:g}/5; peak VRAM &le; "
        f"{rules.vram_max_gb:g} GB.</li>"
        "<li>Sub-scores are the headroom inside each threshold: speed 1 &minus; s/limit; "
        "temporal the mean of (SSIM &minus; limit)/(1 &minus; limit) and (smoothness &minus; "
        "1)/4; fidelity (rating &minus; limit)/(5 &minus; limit); VRAM 1 &minus; GB/limit. "
        "Score = &sum; weight &times; sub-score; ties go to the faster.</li>"
        "<li>A contender missing data (unrated or unmade videos, VRAM not reported) is "
        "awaiting: not eliminated, not eligible; no winner is named until none awaits.</li>"
        f"<li>Seconds per video: generation time with the model load taken out (load shown "
        f"apart); {escape(conversion_text(config))}.</li></ul>")


def render_html(data: ReportData, out_dir: Path) -> str:
    """The whole page."""
    board, config = data.board, data.config
    inputs = config.inputs
    if board.winner is not None:
        kind, heading = "win", f"Winner: {board.winner.label}"
    elif any(c.status == "awaiting" for c in board.contenders):
        kind, heading = "wait", "No winner yet"
    else:
        kind, heading = "none", "No winner"
    why = "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in board.why) + "</ul>"
    why += "".join(f"<p><b>Next:</b> {escape(step)}</p>" for step in next_steps(data))
    warnings = "".join(f'<div class="warn">{escape(w)}</div>' for w in data.warnings)
    charts = "".join(
        f'<h3>{escape(c.title)}</h3><img src="data:image/png;base64,'
        f'{base64.b64encode(c.png).decode()}" alt="{escape(c.title)}"><p class="sub">'
        f"{escape(c.caption)}</p>" for c in data.charts)
    sections = [
        ("videos", "Videos side by side", _videos(data, out_dir)),
        ("scores", "Scores", _scores(data)),
        ("measurements", "Measurements", _measurements(data)),
        ("charts", "Charts", f'<div class="charts">{charts}</div>'),
        ("cost", "Cost", _cost(data)),
        ("plan", "Capacity plan", _plan(data)),
        ("review", "Review sheet", _review(data)),
        ("method", "How it is scored", _method(data)),
    ]
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(title)}</h2>{html}</section>'
                   for key, title, html in sections)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(config.title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{escape(config.title)}</h1><p class=\"sub\">{escape(data.created_at)} · vidgen "
        f"{__version__} · {inputs.duration_sec:g} s, {inputs.width}x{inputs.height}, "
        f"{inputs.fps} fps · prompt: {escape(inputs.prompt or '(each keyframe its own)')} · "
        f"runs on {escape(config.gpu.name)}</p><nav>{nav}</nav>"
        f'<div class="verdict {kind}" id="verdict"><h2>{escape(heading)}</h2>{why}'
        f"</div>{warnings}{body}</main><script>{SCRIPT}</script></body></html>\n")
