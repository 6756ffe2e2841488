package dev.vecnorm.demo;

import dev.vecnorm.demo.Demo.Experiment;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.AxesChartStyler;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The figure: one XChart panel per claim (plus the training loss of the convergence runs), laid out
 * two per row in one PNG. Colours are the same in every panel (red without BN, blue with BN), legends
 * sit below the plot area so they never cover data, accuracy axes run 0 to 1 in steps of 0.2, and the
 * target accuracy is drawn where "epochs to target" or "largest lr reaching target" is reported.
 */
final class Figure {
  static final Color NO_BN = new Color(214, 39, 40), BN = new Color(31, 119, 180), TARGET = new Color(110, 110, 110);
  static final int PANEL_WIDTH = 640, PANEL_HEIGHT = 440, TITLE_HEIGHT = 44;
  private static final Font TITLE_FONT = new Font(Font.SANS_SERIF, Font.BOLD, 15);
  private static final Font AXIS_FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
  private static final Font TICK_FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 12);

  private Figure() {}

  static void write(Path png, Claims c) throws IOException {
    ImageIO.write(render(c), "png", png.toFile());
  }

  static BufferedImage render(Claims c) {
    List<Chart<?, ?>> panels = panels(c);
    int columns = panels.size() == 1 ? 1 : 2, rows = (panels.size() + columns - 1) / columns;
    BufferedImage img = new BufferedImage(columns * PANEL_WIDTH, TITLE_HEIGHT + rows * PANEL_HEIGHT, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, img.getWidth(), img.getHeight());
    String claims = c.options.experiments().size() == Experiment.values().length ? "Batch normalization's five claims"
        : "Batch normalization, " + String.join(" + ", c.options.experiments().stream().map(e -> e.flag).toList());
    String where = String.format(Locale.ROOT, "measured on Fashion-MNIST (%d training, %d validation images)",
        c.data.train().size(), c.data.validation().size());
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
    String title = claims + ", " + where;
    if (g.getFontMetrics().stringWidth(title) <= img.getWidth() - 20) {
      centered(g, title, img.getWidth(), 29);
    } else { // one panel is narrower than the title: two smaller lines
      g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
      centered(g, claims + ",", img.getWidth(), 18);
      centered(g, where, img.getWidth(), 37);
    }
    for (int i = 0; i < panels.size(); i++) {
      BufferedImage panel = BitmapEncoder.getBufferedImage(panels.get(i));
      g.drawImage(panel, (i % columns) * PANEL_WIDTH, TITLE_HEIGHT + (i / columns) * PANEL_HEIGHT, null);
    }
    g.dispose();
    return img;
  }

  private static void centered(Graphics2D g, String text, int width, int baseline) {
    g.drawString(text, (width - g.getFontMetrics().stringWidth(text)) / 2, baseline);
  }

  static List<Chart<?, ?>> panels(Claims c) {
    List<Chart<?, ?>> panels = new ArrayList<>();
    double target = c.options.target();
    if (c.has(Experiment.CONVERGENCE)) {
      XYChart acc = xy("1. Convergence: validation accuracy", "epoch", "validation accuracy");
      XYChart loss = xy("1. Convergence: training loss", "epoch", "training cross-entropy (nats)");
      for (boolean bn : new boolean[] {false, true}) {
        Training.Result r = c.convergence(bn);
        String name = (bn ? "with BN" : "without BN") + ", lr " + Fmt.number(r.spec().lr());
        line(acc, name, epochs(r.validationAccuracy().size()), values(r.validationAccuracy()), bn);
        line(loss, name, epochs(r.history().get("loss").size()), values(r.history().get("loss")), bn);
      }
      targetLine(acc, target, 1, c.options.epochsFor(Experiment.CONVERGENCE));
      accuracyAxis(acc);
      integerXAxis(acc, c.options.epochsFor(Experiment.CONVERGENCE));
      integerXAxis(loss, c.options.epochsFor(Experiment.CONVERGENCE));
      loss.getStyler().setYAxisMin(0.0);
      loss.getStyler().setYAxisDecimalPattern("0.0");
      panels.add(acc);
      panels.add(loss);
    }
    if (c.has(Experiment.STABILITY)) {
      XYChart g = xy("2. Stability: gradient norm, 10 sigmoid layers", "epoch", "L2 norm of the weight gradient (log scale)");
      g.getStyler().setYAxisLogarithmic(true);
      g.getStyler().setYAxisDecimalPattern("0E0");
      for (boolean bn : new boolean[] {false, true}) {
        Training.Result r = c.stability(bn);
        double[][] norms = r.gradientNorms();
        int last = norms.length - 2;
        String net = bn ? "BN" : "no BN";
        // Hundreds of noisy samples: lines only, the layer told apart by the dash.
        XYSeries first = g.addSeries(net + ", layer 1", r.gradientEpochs(), positive(norms[0]));
        style(first, bn, SeriesLines.SOLID);
        first.setMarker(SeriesMarkers.NONE);
        XYSeries deep = g.addSeries(net + ", layer " + (last + 1), r.gradientEpochs(), positive(norms[last]));
        style(deep, bn, SeriesLines.DASH_DASH);
        deep.setMarker(SeriesMarkers.NONE);
      }
      g.getStyler().setXAxisMin(0.0);
      integerXAxis(g, c.options.epochsFor(Experiment.STABILITY));
      panels.add(g);
    }
    if (c.has(Experiment.REGULARIZATION)) {
      CategoryChart bars = new CategoryChartBuilder().width(PANEL_WIDTH).height(PANEL_HEIGHT)
          .title("3. Regularization: generalization gap, ReLU 2x256")
          .xAxisTitle("regularization").yAxisTitle("train - test accuracy (percentage points)").build();
      common(bars.getStyler());
      bars.getStyler().setLegendVisible(false);
      bars.getStyler().setLabelsVisible(true);
      bars.getStyler().setLabelsPosition(0.5);
      bars.getStyler().setLabelsFont(TICK_FONT);
      bars.getStyler().setYAxisDecimalPattern("0");
      List<String> names = new ArrayList<>();
      List<Double> gaps = new ArrayList<>();
      for (boolean bn : new boolean[] {false, true}) {
        for (boolean dropout : new boolean[] {false, true}) {
          Training.Result r = c.regularization(bn, dropout);
          names.add(r.spec().label());
          gaps.add(100 * Claims.gap(r));
        }
      }
      bars.addSeries("gap", names, gaps).setFillColor(new Color(120, 120, 120));
      double max = 0, min = 0;
      for (double v : gaps) {
        max = Math.max(max, v);
        min = Math.min(min, v);
      }
      bars.getStyler().setYAxisMin(Math.floor(min / 5) * 5);
      bars.getStyler().setYAxisMax(Math.max(5, Math.ceil(max / 5) * 5 + 5));
      panels.add(bars);
    }
    if (c.has(Experiment.INIT)) {
      XYChart init = sweep(c, "4. Initialization: weights scaled at start", "initial-weight scale (log scale)", Experiment.INIT,
          Demo.INIT_SCALES, c::init);
      init.getStyler().setXAxisMin(0.08);
      init.getStyler().setXAxisMax(12.0);
      panels.add(init);
    }
    if (c.has(Experiment.LR)) {
      panels.add(sweep(c, "5. Learning rate: final accuracy across an SGD sweep", "learning rate (log scale)", Experiment.LR,
          Demo.LR_SWEEP, c::lr));
    }
    return panels;
  }

  /** The epochs {@link Training.Result#finalValidationAccuracy()} averages, as an axis label. */
  private static String lastEpochs(Claims c, Experiment e) {
    int n = c.options.epochsFor(e), from = Math.max(1, n - Training.FINAL_EPOCHS + 1);
    return from == n ? "after epoch " + n : "mean of epochs " + from + "-" + n;
  }

  /** Final validation accuracy against a swept setting on a log axis, with and without BN. */
  private static XYChart sweep(Claims c, String title, String xTitle, Experiment e, double[] xs, Claims.Sweep runs) {
    XYChart chart = xy(title, xTitle, "validation accuracy, " + lastEpochs(c, e));
    chart.getStyler().setXAxisLogarithmic(true);
    chart.getStyler().setXAxisDecimalPattern("0.##");
    for (boolean bn : new boolean[] {false, true}) line(chart, bn ? "with BN" : "without BN", xs, c.finalAccuracies(bn, xs, runs), bn);
    accuracyAxis(chart);
    return chart;
  }

  private static XYChart xy(String title, String xTitle, String yTitle) {
    XYChart chart = new XYChartBuilder().width(PANEL_WIDTH).height(PANEL_HEIGHT).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
    common(chart.getStyler());
    chart.getStyler().setMarkerSize(6);
    return chart;
  }

  /** Paper style: white plot, light grid, no border box, legend under the plot. */
  private static void common(AxesChartStyler s) {
    s.setChartBackgroundColor(Color.WHITE);
    s.setPlotBackgroundColor(Color.WHITE);
    s.setPlotBorderVisible(true);
    s.setPlotBorderColor(new Color(170, 170, 170));
    s.setPlotGridLinesColor(new Color(225, 225, 225));
    s.setChartTitleBoxVisible(false);
    s.setChartTitleFont(TITLE_FONT);
    s.setAxisTitleFont(AXIS_FONT);
    s.setAxisTickLabelsFont(TICK_FONT);
    s.setLegendFont(TICK_FONT);
    s.setLegendPosition(Styler.LegendPosition.OutsideS);
    s.setLegendLayout(Styler.LegendLayout.Horizontal);
    s.setLegendBorderColor(Color.WHITE);
    s.setLocale(Locale.ROOT);
    s.setChartPadding(12);
  }

  private static void line(XYChart chart, String name, double[] x, double[] y, boolean bn) {
    style(chart.addSeries(name, x, y), bn, SeriesLines.SOLID);
  }

  private static void style(XYSeries s, boolean bn, BasicStroke stroke) {
    s.setLineColor(bn ? BN : NO_BN);
    s.setMarkerColor(bn ? BN : NO_BN);
    s.setMarker(bn ? SeriesMarkers.CIRCLE : SeriesMarkers.SQUARE);
    s.setLineStyle(stroke);
  }

  private static void targetLine(XYChart chart, double target, double from, double to) {
    XYSeries s = chart.addSeries(String.format(Locale.ROOT, "target %.0f%%", 100 * target), new double[] {from, to}, new double[] {target, target});
    s.setLineColor(TARGET);
    s.setLineStyle(SeriesLines.DASH_DASH);
    s.setMarker(SeriesMarkers.NONE);
    s.setShowInLegend(true);
  }

  /** Accuracy on [0, 1] with ticks every 0.2. */
  private static void accuracyAxis(XYChart chart) {
    chart.getStyler().setYAxisMin(0.0);
    chart.getStyler().setYAxisMax(1.0);
    chart.getStyler().setYAxisDecimalPattern("0.0");
  }

  /** Whole epochs only: 1, 2, ..., when there are enough of them. */
  private static void integerXAxis(XYChart chart, int epochs) {
    chart.getStyler().setXAxisMax((double) epochs);
    if (epochs < 3) {
      chart.getStyler().setXAxisDecimalPattern("0.0"); // too few whole epochs for a scale: label fractions
      return;
    }
    chart.getStyler().setXAxisDecimalPattern("0");
    // XChart cannot lay out an empty label, so a fractional tick gets a blank one.
    chart.getStyler().setxAxisTickLabelsFormattingFunction(v -> Math.abs(v - Math.rint(v)) < 1e-9 ? String.valueOf((long) Math.rint(v)) : " ");
  }

  private static double[] epochs(int n) {
    double[] x = new double[n];
    for (int i = 0; i < n; i++) x[i] = i + 1;
    return x;
  }

  private static double[] values(List<Double> v) {
    double[] out = new double[v.size()];
    for (int i = 0; i < out.length; i++) out[i] = v.get(i);
    return out;
  }

  /** A log axis cannot show 0: a zero gradient (a fully saturated layer) is drawn at the smallest float instead. */
  private static double[] positive(double[] v) {
    double[] out = v.clone();
    for (int i = 0; i < out.length; i++) if (!(out[i] > 0)) out[i] = Float.MIN_NORMAL;
    return out;
  }
}
