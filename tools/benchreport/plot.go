package main

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot is one drawn figure: the file, relative to the plots directory,
// and what it shows.
type Plot struct {
	File  string
	Title string
}

// Plots draws the report's figures as SVG into dir: the ratio of every row
// that has one, and L1's throughput against p99 when the open loop ran.
func Plots(dir string, rows []Row, samples []Sample) ([]Plot, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	var out []Plot
	if p, ok, err := ratioPlot(dir, rows); err != nil {
		return nil, err
	} else if ok {
		out = append(out, p)
	}
	if p, ok, err := openLoopPlot(dir, samples); err != nil {
		return nil, err
	} else if ok {
		out = append(out, p)
	}
	if p, ok, err := searchPlot(dir, SearchPoints(samples)); err != nil {
		return nil, err
	} else if ok {
		out = append(out, p)
	}
	return out, nil
}

func ratioPlot(dir string, rows []Row) (Plot, bool, error) {
	var names []string
	var vals plotter.Values
	for _, r := range rows {
		if r.Ratio != nil {
			names = append(names, r.ID)
			vals = append(vals, *r.Ratio)
		}
	}
	if len(vals) == 0 {
		return Plot{}, false, nil
	}
	p := plot.New()
	p.Title.Text = "Ratio against the baseline (median of the rounds)"
	p.Y.Label.Text = "ratio"
	bars, err := plotter.NewBarChart(vals, vg.Points(24))
	if err != nil {
		return Plot{}, false, err
	}
	p.Add(bars, plotter.NewGrid())
	p.NominalX(names...)
	pl := Plot{File: "ratios.svg", Title: "ratios"}
	return pl, true, p.Save(6*vg.Inch, 3.5*vg.Inch, filepath.Join(dir, pl.File))
}

// openLoopPlot draws achieved calls/s against p99 for the open loop's
// loads (BenchmarkGetProductOpenLoop/load=<fraction>).
func openLoopPlot(dir string, samples []Sample) (Plot, bool, error) {
	const prefix = "BenchmarkGetProductOpenLoop/load="
	type point struct{ load, rate, p99 float64 }
	var pts []point
	for _, s := range samples {
		rest, ok := strings.CutPrefix(s.Name, prefix)
		if !ok {
			continue
		}
		load, err := strconv.ParseFloat(rest, 64)
		if err != nil {
			return Plot{}, false, fmt.Errorf("%s: %w", s.Name, err)
		}
		pts = append(pts, point{load, s.Metrics["calls/s"], s.Metrics["p99-ms"]})
	}
	if len(pts) == 0 {
		return Plot{}, false, nil
	}
	slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(a.rate, b.rate) })
	xys := make(plotter.XYs, len(pts))
	for i, pt := range pts {
		xys[i] = plotter.XY{X: pt.rate, Y: pt.p99}
	}
	p := plot.New()
	p.Title.Text = "GetProduct, open loop: p99 against throughput"
	p.X.Label.Text = "calls/s (0.25, 0.5, 0.75, 1.0 of the closed-loop maximum)"
	p.Y.Label.Text = "p99 (ms)"
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return Plot{}, false, err
	}
	p.Add(line, points, plotter.NewGrid())
	pl := Plot{File: "l1-getproduct.svg", Title: "L1: GetProduct p99 against throughput"}
	return pl, true, p.Save(6*vg.Inch, 3.5*vg.Inch, filepath.Join(dir, pl.File))
}

// searchPlot draws S1: each search shape's p99 against the catalogue's
// size, both axes logarithmic.
func searchPlot(dir string, pts []SearchPoint) (Plot, bool, error) {
	if len(pts) == 0 {
		return Plot{}, false, nil
	}
	p := plot.New()
	p.Title.Text = "SearchProducts p99 against catalogue size"
	p.X.Label.Text = "products"
	p.Y.Label.Text = "p99 (ms)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	var shapes []string
	byShape := map[string]plotter.XYs{}
	for _, pt := range pts {
		if pt.P99 <= 0 {
			continue
		}
		if _, ok := byShape[pt.Shape]; !ok {
			shapes = append(shapes, pt.Shape)
		}
		byShape[pt.Shape] = append(byShape[pt.Shape], plotter.XY{X: float64(pt.Products), Y: pt.P99})
	}
	if len(shapes) == 0 {
		return Plot{}, false, nil
	}
	for n, shape := range shapes {
		xys := byShape[shape]
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return Plot{}, false, err
		}
		line.Color, points.Color = plotutil.Color(n), plotutil.Color(n)
		points.Shape = plotutil.Shape(n)
		p.Add(line, points)
		p.Legend.Add(shape, line, points)
	}
	p.Legend.Top, p.Legend.Left = true, true
	pl := Plot{File: "s1-search.svg", Title: "S1: SearchProducts p99 against catalogue size"}
	return pl, true, p.Save(6*vg.Inch, 4*vg.Inch, filepath.Join(dir, pl.File))
}
