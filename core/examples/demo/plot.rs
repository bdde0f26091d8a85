//! CDF and PDF plots of the demo's latency distributions, as KrakenD's concurrent-calls page draws
//! them: for the CDF, further left is better; for the PDF, further left and narrower is better.
//! The x axis is logarithmic so the 1 ms body and the 100 ms tail both show.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::Run;

/// DejaVu Sans (see assets/DejaVuSans-LICENSE.txt), embedded so plots render on any machine.
static FONT: &[u8] = include_bytes!("assets/DejaVuSans.ttf");

const COLORS: [RGBColor; 4] = [
    RGBColor(200, 30, 30),
    RGBColor(30, 90, 200),
    RGBColor(230, 150, 0),
    RGBColor(20, 150, 60),
];

fn x_range(runs: &[Run]) -> (f64, f64) {
    let max = runs.iter().map(|r| r.hist.max()).max().unwrap_or(1000) as f64 / 1000.0;
    (0.3, (max * 1.3).max(2.0))
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Draw both plots as PNG into `dir`; returns their paths.
pub fn cdf_and_pdf(runs: &[Run], dir: &Path) -> Res<(PathBuf, PathBuf)> {
    register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| "cannot load the font")?;
    let cdf = dir.join("latency_cdf.png");
    let pdf = dir.join("latency_pdf.png");
    draw_cdf(runs, &cdf)?;
    draw_pdf(runs, &pdf)?;
    Ok((cdf, pdf))
}

fn draw_cdf(runs: &[Run], path: &Path) -> Res<()> {
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (lo, hi) = x_range(runs);
    let mut chart = ChartBuilder::on(&root)
        .caption("Latency CDF (further left is better)", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((lo..hi).log_scale(), 0.9f64..1.0005f64)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("fraction of calls at or below (from 90%)")
        .label_style(("sans-serif", 14))
        .draw()?;
    for (run, color) in runs.iter().zip(COLORS) {
        let mut sorted = run.samples_us.clone();
        sorted.sort_unstable();
        let n = sorted.len() as f64;
        // One point per distinct latency step is plenty; thin the rest.
        let step = (sorted.len() / 2000).max(1);
        let points = sorted
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0 || *i == sorted.len() - 1)
            .map(|(i, &us)| ((us as f64 / 1000.0).clamp(lo, hi), (i + 1) as f64 / n));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(run.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn draw_pdf(runs: &[Run], path: &Path) -> Res<()> {
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (lo, hi) = x_range(runs);
    // Log-spaced bins: density per bin, as a fraction of calls.
    const BINS: usize = 80;
    let edges: Vec<f64> = (0..=BINS)
        .map(|i| lo * (hi / lo).powf(i as f64 / BINS as f64))
        .collect();
    let densities: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|r| {
            let mut counts = vec![0u64; BINS];
            for &us in &r.samples_us {
                let ms = (us as f64 / 1000.0).clamp(lo, hi * 0.9999);
                let b = ((ms / lo).ln() / (hi / lo).ln() * BINS as f64) as usize;
                counts[b.min(BINS - 1)] += 1;
            }
            let n = r.samples_us.len().max(1) as f64;
            (0..BINS)
                .map(|b| ((edges[b] * edges[b + 1]).sqrt(), counts[b] as f64 / n))
                .collect()
        })
        .collect();
    let ymax = densities
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(0.01);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Latency PDF (further left and narrower is better)",
            ("sans-serif", 24),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((lo..hi).log_scale(), (0.0001f64..ymax * 1.2).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("fraction of calls per bin (log scale)")
        .label_style(("sans-serif", 14))
        .draw()?;
    for ((run, color), points) in runs.iter().zip(COLORS).zip(densities) {
        let points = points.into_iter().map(|(x, y)| (x, y.max(0.0001)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(run.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
