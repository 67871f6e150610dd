//! One self-contained HTML page per report: the narrative, the ladders and the plots as
//! inline SVG drawn with `plotters`, the counters and the figures.
//!
//! The page carries a few lines of script that, once the browser has laid it out, count
//! the diagrams that rendered with a non-empty box and write the count into
//! `<body data-rendered-diagrams="N">`, so a headless browser's DOM dump shows that the
//! SVGs really rendered.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::ladder::{Event, Ladder, Side};
use crate::report::Report;

const WIDTH: i32 = 960;
const LEFT_X: i32 = 250;
const RIGHT_X: i32 = 710;
const TOP: i32 = 60;
const ROW: i32 = 22;

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Ladder {
    /// The ladder as an SVG document: two vertical time lines, each segment an arrow from
    /// its sending time on one side to its arrival time on the other (or an X where it
    /// was lost), each state written beside its side when it is entered.
    pub fn to_svg(&self) -> String {
        // Marks: every row, plus every arrival; ordered by time, arrivals first among
        // equals (a reply leaves after what it answers arrived).
        let mut marks: Vec<(u64, u8, usize)> = Vec::new();
        for (i, e) in self.events.iter().enumerate() {
            let class = if matches!(e, Event::Segment(_)) { 2 } else { 1 };
            marks.push((e.at_us(), class, i));
            if let Event::Segment(s) = e {
                if let Some(a) = s.arrived_us {
                    marks.push((a, 0, i));
                }
            }
        }
        marks.sort();
        let mut y_send = vec![0i32; self.events.len()];
        let mut y_arrive = vec![None; self.events.len()];
        let mut breaks = Vec::new();
        let mut y = TOP;
        let mut prev: Option<(u64, u8)> = None;
        for &(t, class, i) in &marks {
            if let Some((pt, pc)) = prev {
                if t - pt > 500_000 {
                    y += ROW;
                    breaks.push((y - ROW / 2, t - pt));
                }
                if !(pt == t && pc == 0 && class == 0) {
                    y += ROW;
                }
            }
            prev = Some((t, class));
            if class == 0 {
                y_arrive[i] = Some(y);
            } else {
                y_send[i] = y;
            }
        }
        let height = (y + 2 * ROW).max(160);
        let mut svg = String::new();
        let _ = self.draw_svg(&mut svg, height, &y_send, &y_arrive, &breaks);
        svg
    }

    fn draw_svg(
        &self,
        svg: &mut String,
        height: i32,
        y_send: &[i32],
        y_arrive: &[Option<i32>],
        breaks: &[(i32, u64)],
    ) -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(svg, (WIDTH as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE)?;
        let font = |size: i32, h: HPos| {
            TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(h, VPos::Center))
        };
        let head = font(15, HPos::Center);
        root.draw(&Text::new(self.left.clone(), (LEFT_X, 22), head.clone()))?;
        root.draw(&Text::new(self.right.clone(), (RIGHT_X, 22), head))?;
        root.draw(&Text::new(
            "time (s)".to_string(),
            (12, 42),
            font(11, HPos::Left),
        ))?;
        let axis = BLACK.stroke_width(2);
        for x in [LEFT_X, RIGHT_X] {
            root.draw(&PathElement::new(vec![(x, 36), (x, height - 10)], axis))?;
        }
        for &(y, gap) in breaks {
            let text = format!("... {:.3} s later ...", gap as f64 / 1e6);
            root.draw(&Text::new(
                text,
                ((LEFT_X + RIGHT_X) / 2, y),
                font(11, HPos::Center),
            ))?;
        }
        let blue = RGBColor(30, 80, 180);
        let red = RGBColor(200, 40, 40);
        for (i, e) in self.events.iter().enumerate() {
            let y = y_send[i];
            let time = format!("{:.3}", e.at_us() as f64 / 1e6);
            match e {
                Event::State { side, state, .. } => {
                    root.draw(&Text::new(time, (12, y), font(11, HPos::Left)))?;
                    let (x, h) = match side {
                        Side::Left => (LEFT_X - 10, HPos::Right),
                        Side::Right => (RIGHT_X + 10, HPos::Left),
                    };
                    let style =
                        TextStyle::from(("sans-serif", 13).into_font().style(FontStyle::Bold))
                            .pos(Pos::new(h, VPos::Center))
                            .color(&RGBColor(0, 110, 60));
                    root.draw(&Text::new(state.clone(), (x, y), style))?;
                }
                Event::Note { text, .. } => {
                    root.draw(&Text::new(time, (12, y), font(11, HPos::Left)))?;
                    let style =
                        TextStyle::from(("sans-serif", 12).into_font().style(FontStyle::Italic))
                            .pos(Pos::new(HPos::Center, VPos::Center))
                            .color(&RGBColor(90, 90, 90));
                    root.draw(&Text::new(text.clone(), ((LEFT_X + RIGHT_X) / 2, y), style))?;
                }
                Event::Segment(s) => {
                    root.draw(&Text::new(time, (12, y), font(11, HPos::Left)))?;
                    let (x1, x2) = match s.from {
                        Side::Left => (LEFT_X, RIGHT_X),
                        Side::Right => (RIGHT_X, LEFT_X),
                    };
                    let color = if s.kind == "RST" { red } else { blue };
                    let (end, lost) = match y_arrive[i] {
                        Some(y2) => ((x2, y2), false),
                        None => (((x1 + x2) / 2, y + ROW / 2), true),
                    };
                    root.draw(&PathElement::new(vec![(x1, y), end], color.stroke_width(2)))?;
                    if lost {
                        let (cx, cy) = end;
                        let st = red.stroke_width(3);
                        root.draw(&PathElement::new(
                            vec![(cx - 6, cy - 6), (cx + 6, cy + 6)],
                            st,
                        ))?;
                        root.draw(&PathElement::new(
                            vec![(cx - 6, cy + 6), (cx + 6, cy - 6)],
                            st,
                        ))?;
                    } else {
                        let dir = if x2 > x1 { -1 } else { 1 };
                        let (ex, ey) = end;
                        root.draw(&Polygon::new(
                            vec![(ex, ey), (ex + dir * 10, ey - 5), (ex + dir * 10, ey + 5)],
                            color.filled(),
                        ))?;
                    }
                    let mid = ((x1 + end.0) / 2, (y + end.1) / 2 - 8);
                    let label = if lost {
                        format!("{} [{}]", s.label, s.fate)
                    } else {
                        s.label.clone()
                    };
                    let style = TextStyle::from(("monospace", 12).into_font())
                        .pos(Pos::new(HPos::Center, VPos::Bottom))
                        .color(&color);
                    root.draw(&Text::new(label, mid, style))?;
                }
            }
        }
        if self.omitted > 0 {
            let text = format!("... {} more rows not shown", self.omitted);
            root.draw(&Text::new(text, (12, height - 14), font(12, HPos::Left)))?;
        }
        root.present()?;
        Ok(())
    }
}

impl Report {
    /// The report as one self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
        h += &format!("<title>synack lab {}</title>\n", escape(&self.lab));
        h += "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}\
              pre{background:#f6f6f6;padding:.6em;overflow-x:auto}\
              figure{margin:1em 0}figcaption{font-weight:bold;margin:.3em 0}</style>\n";
        h += "</head>\n<body data-rendered-diagrams=\"0\">\n";
        h += &format!(
            "<h1>lab {}: {}</h1>\n<p><em>From seeds {}; seed {}",
            escape(&self.lab),
            escape(&self.title),
            escape(&self.seeds),
            self.seed
        );
        for (k, v) in &self.sysctls {
            h += &format!(", {}={}", escape(k), escape(v));
        }
        h += "</em></p>\n";
        for p in &self.narrative {
            h += &format!("<p>{}</p>\n", escape(p));
        }
        for (i, l) in self.ladders.iter().enumerate() {
            h += &format!(
                "<figure class=\"diagram ladder\" id=\"ladder-{i}\"><figcaption>{}</figcaption>\n{}\n</figure>\n",
                escape(&l.title),
                l.to_svg()
            );
        }
        for (i, p) in self.plots.iter().enumerate() {
            h += &format!(
                "<figure class=\"diagram plot\" id=\"plot-{i}\"><figcaption>{}</figcaption>\n{}\n</figure>\n",
                escape(&p.title),
                p.to_svg()
            );
        }
        if !self.counters.is_empty() {
            h += "<h2>Counters</h2>\n<pre>";
            for c in &self.counters {
                h += &escape(&format!("{} (at {:.3} s)\n", c.host, c.at_s));
                for k in &c.netstat {
                    h += &escape(&format!("    {}: {} {}\n", k.group, k.name, k.value));
                }
                h += &escape(&format!("    ss -s: {}\n", c.ss.line()));
            }
            h += "</pre>\n";
        }
        h += "<h2>Figures</h2>\n<pre id=\"figures\">";
        h += &escape(&serde_json::to_string_pretty(&self.figures).unwrap_or_default());
        h += "</pre>\n";
        h += "<script>\nwindow.addEventListener('load', function () {\n\
              var n = 0;\n\
              document.querySelectorAll('figure.diagram svg').forEach(function (s) {\n\
              var r = s.getBoundingClientRect();\n\
              if (r.width > 0 && r.height > 0 && s.querySelectorAll('line,polyline,path,polygon,text').length > 0) { n++; }\n\
              });\n\
              document.body.setAttribute('data-rendered-diagrams', String(n));\n\
              });\n</script>\n";
        h += "</body></html>\n";
        h
    }

    /// How many diagrams (ladders and plots) the page has.
    pub fn diagram_count(&self) -> usize {
        self.ladders.len() + self.plots.len()
    }
}
