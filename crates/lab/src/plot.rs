//! Plots: time series a lab measured, drawn as SVG with `plotters`.

use plotters::prelude::*;
use serde::Serialize;

/// One line of a plot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The legend.
    pub name: String,
    /// The points, x ascending.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series called `name` with `points`, thinned to at most [`MAX_POINTS`] (keeping
    /// the first, the last and each bucket's extremes, so spikes survive).
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points: thin(points),
        }
    }
}

/// The most points a series keeps.
pub const MAX_POINTS: usize = 800;

fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let buckets = MAX_POINTS / 2;
    let per = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(MAX_POINTS + 2);
    for chunk in points.chunks(per) {
        let lo = chunk
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map_or(0, |(i, _)| i);
        let hi = chunk
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map_or(0, |(i, _)| i);
        let (a, b) = (lo.min(hi), lo.max(hi));
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    if out.last() != points.last() {
        if let Some(&p) = points.last() {
            out.push(p);
        }
    }
    out
}

/// A plot: one or more series over a shared x axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plot {
    /// The caption.
    pub title: String,
    /// The x axis's description.
    pub x_label: String,
    /// The y axis's description.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Draw as steps (a value holds until the next point) instead of straight lines.
    pub steps: bool,
}

impl Plot {
    /// An empty plot.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Plot {
        Plot {
            title: title.to_string(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            series: Vec::new(),
            steps: false,
        }
    }

    /// Adds a series (builder style).
    pub fn with(mut self, s: Series) -> Plot {
        self.series.push(s);
        self
    }

    /// Draws as steps (builder style).
    pub fn stepped(mut self) -> Plot {
        self.steps = true;
        self
    }

    /// The plot as an SVG document.
    pub fn to_svg(&self) -> String {
        let mut svg = String::new();
        // Drawing into a String cannot fail for I/O; a plotters error leaves what was
        // drawn so far, which the page still shows.
        let _ = self.draw(&mut svg);
        svg
    }

    fn draw(&self, svg: &mut String) -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(svg, (760, 380)).into_drawing_area();
        root.fill(&WHITE)?;
        let all = self.series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0f64);
        for &(x, y) in all {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        if y1 <= 0.0 {
            y1 = 1.0;
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0f64..y1 * 1.08)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .draw()?;
        for (i, s) in self.series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let pts: Vec<(f64, f64)> = if self.steps {
                let mut v = Vec::with_capacity(s.points.len() * 2);
                for w in s.points.windows(2) {
                    v.push(w[0]);
                    v.push((w[1].0, w[0].1));
                }
                if let Some(&p) = s.points.last() {
                    v.push(p);
                }
                v
            } else {
                s.points.clone()
            };
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        if self.series.len() > 1 || self.series.iter().any(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }
        root.present()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_ends_and_spikes() {
        let mut pts: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 1.0)).collect();
        pts[5_000].1 = 99.0;
        let s = Series::new("s", pts);
        assert!(s.points.len() <= MAX_POINTS + 2);
        assert_eq!(s.points.first(), Some(&(0.0, 1.0)));
        assert_eq!(s.points.last(), Some(&(9_999.0, 1.0)));
        assert!(s.points.contains(&(5_000.0, 99.0)));
    }

    #[test]
    fn svg_has_the_series() {
        let p = Plot::new("t", "x", "y").with(Series::new("a", vec![(0.0, 1.0), (1.0, 2.0)]));
        let svg = p.to_svg();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<polyline"));
    }
}
