package dev.vecnorm.demo;

import dev.vecnorm.demo.Demo.Experiment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The five claims, decided from the runs: the number that decides each, with BN and without, and a
 * verdict that says what was measured. Accuracy differences smaller than {@link #margin()} (two
 * standard errors of a difference of two accuracies near 0.8 on the evaluation set) count as no
 * difference, so a verdict does not rest on noise.
 */
final class Claims {
  record Row(String claim, String setup, String decidedBy, String withoutBn, String withBn, String verdict) {}

  final Demo.Options options;
  final Demo.Data data;
  private final Map<Training.Spec, Training.Result> results;

  Claims(Demo.Options options, Demo.Data data, Map<Training.Spec, Training.Result> results) {
    this.options = options;
    this.data = data;
    this.results = results;
  }

  boolean has(Experiment e) {
    return options.experiments().contains(e);
  }

  /** Two standard errors of the difference of two accuracies near 0.8, each measured on {@code n} samples. */
  double margin() {
    int n = Math.min(data.validation().size(), data.test().size());
    return 2 * Math.sqrt(2 * 0.8 * 0.2 / n);
  }

  // ---- the runs of each experiment ----

  Training.Result sigmoid(boolean bn, double lr, double scale, Experiment e) {
    return get(new Training.Spec("", Training.Net.SIGMOID_3X100, bn, 0, lr, false, scale, options.epochsFor(e), data.train().size(), false));
  }

  Training.Result convergence(boolean bn) {
    return sigmoid(bn, options.lr(), 1, Experiment.CONVERGENCE);
  }

  Training.Result init(boolean bn, double scale) {
    return sigmoid(bn, options.lr(), scale, Experiment.INIT);
  }

  Training.Result lr(boolean bn, double lr) {
    return sigmoid(bn, lr, 1, Experiment.LR);
  }

  Training.Result stability(boolean bn) {
    return get(new Training.Spec("", Training.Net.SIGMOID_10X64, bn, 0, options.lr(), false, 1, options.epochsFor(Experiment.STABILITY),
        data.train().size(), true));
  }

  Training.Result regularization(boolean bn, boolean dropout) {
    return get(new Training.Spec("", Training.Net.RELU_2X256, bn, dropout ? Demo.DROPOUT_RATE : 0, Demo.ADAM_LR, true, 1,
        options.epochsFor(Experiment.REGULARIZATION), Math.min(Demo.REGULARIZATION_SAMPLES, data.train().size()), false));
  }

  private Training.Result get(Training.Spec key) {
    Training.Result r = results.get(key);
    if (r == null) throw new IllegalStateException("no run for " + key.describe());
    return r;
  }

  // ---- the deciding numbers ----

  /** Median over training of a layer's gradient norm divided by another's; the first hidden layer over the last hidden one. */
  static double firstOverLastHidden(Training.Result r) {
    double[][] g = r.gradientNorms();
    int last = g.length - 2; // the last Dense is the logits layer
    double[] ratios = new double[g[0].length];
    for (int s = 0; s < ratios.length; s++) ratios[s] = g[0][s] / g[last][s];
    return median(ratios);
  }

  static double medianNorm(Training.Result r, int layer) {
    return median(r.gradientNorms()[layer]);
  }

  static double median(double[] v) {
    double[] s = v.clone();
    java.util.Arrays.sort(s);
    return s.length == 0 ? Double.NaN : s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  static double gap(Training.Result r) {
    return r.trainAccuracy() - r.testAccuracy();
  }

  double initSpread(boolean bn) {
    double[] acc = finalAccuracies(bn, Demo.INIT_SCALES, this::init);
    return java.util.Arrays.stream(acc).max().orElse(Double.NaN) - java.util.Arrays.stream(acc).min().orElse(Double.NaN);
  }

  /** The largest swept learning rate whose final accuracy is within {@link Demo#USABLE} of the net's best over the sweep. */
  double largestUsableLr(boolean bn) {
    double[] acc = finalAccuracies(bn, Demo.LR_SWEEP, this::lr);
    double best = bestLrAccuracy(bn), largest = Double.NaN;
    for (int i = 0; i < acc.length; i++) if (acc[i] >= best - Demo.USABLE) largest = Demo.LR_SWEEP[i];
    return largest;
  }

  double bestLrAccuracy(boolean bn) {
    return java.util.Arrays.stream(finalAccuracies(bn, Demo.LR_SWEEP, this::lr)).max().orElse(Double.NaN);
  }

  // ---- the table ----

  List<Row> rows() {
    List<Row> rows = new ArrayList<>();
    String pct = String.format(Locale.ROOT, "%.0f%%", 100 * options.target());
    String m = String.format(Locale.ROOT, "%.1f pp", 100 * margin());
    if (has(Experiment.CONVERGENCE)) {
      Training.Result no = convergence(false), bn = convergence(true);
      int eNo = no.epochsTo(options.target()), eBn = bn.epochsTo(options.target());
      int epochs = options.epochsFor(Experiment.CONVERGENCE);
      String verdict;
      if (eBn < 0 && eNo < 0) verdict = "not decided: neither net reached " + pct + " in " + epochs + " epochs";
      else if (eBn < 0) verdict = "no: only the net without BN reached " + pct;
      else if (eNo < 0) verdict = "yes: with BN in " + eBn + " epochs, without BN not within " + epochs;
      else if (eBn < eNo) verdict = String.format(Locale.ROOT, "yes: %.1fx fewer epochs", (double) eNo / eBn);
      else verdict = "no: BN took " + (eBn == eNo ? "as many" : "more") + " epochs";
      rows.add(new Row("1. faster convergence", Training.Net.SIGMOID_3X100.description + ", SGD lr " + Fmt.number(options.lr()),
          "epochs to " + pct + " validation accuracy", epochsText(eNo, epochs), epochsText(eBn, epochs), verdict));
    }
    if (has(Experiment.STABILITY)) {
      Training.Result no = stability(false), bn = stability(true);
      double rNo = firstOverLastHidden(no), rBn = firstOverLastHidden(bn);
      double dNo = Math.abs(Math.log10(rNo)), dBn = Math.abs(Math.log10(rBn));
      String verdict;
      if (!Double.isFinite(rNo) || !Double.isFinite(rBn)) verdict = "not decided: a gradient norm was not finite";
      else if (dBn <= dNo - 1) verdict = String.format(Locale.ROOT, "yes: BN keeps layer 1's gradient within %.1f decades of layer 10's, without BN %.1f", dBn, dNo);
      else if (dBn < dNo) verdict = String.format(Locale.ROOT, "partly: BN is closer to 1, by less than a decade (%.1f vs %.1f decades)", dBn, dNo);
      else verdict = String.format(Locale.ROOT, "no: %.1f decades with BN, %.1f without", dBn, dNo);
      rows.add(new Row("2. stable gradients", Training.Net.SIGMOID_10X64.description + ", SGD lr " + Fmt.number(options.lr()),
          "gradient norm, layer 1 / layer 10 (median over training)", sci(rNo), sci(rBn), verdict));
    }
    if (has(Experiment.REGULARIZATION)) {
      double none = gap(regularization(false, false)), bn = gap(regularization(true, false));
      double dropout = gap(regularization(false, true)), both = gap(regularization(true, true));
      String verdict;
      if (bn < none - margin()) {
        verdict = String.format(Locale.ROOT, "yes: BN alone narrows the gap by %.1f pp (Dropout alone: %.1f pp, both: %s)",
            100 * (none - bn), 100 * (none - dropout), Fmt.points(both));
      } else if (bn > none + margin()) {
        verdict = String.format(Locale.ROOT, "no: BN alone widens the gap by %.1f pp (Dropout alone narrows it by %.1f pp)", 100 * (bn - none),
            100 * (none - dropout));
      } else {
        verdict = String.format(Locale.ROOT, "no: BN alone changes the gap by %.1f pp, within the %s noise (Dropout alone: %.1f pp narrower)",
            100 * (none - bn), m, 100 * (none - dropout));
      }
      rows.add(new Row("3. regularization", Training.Net.RELU_2X256.description + ", Adam, "
          + Math.min(Demo.REGULARIZATION_SAMPLES, data.train().size()) + " samples",
          "train - test accuracy gap (Dropout alone: " + Fmt.points(dropout) + ", both: " + Fmt.points(both) + ")",
          Fmt.points(none), Fmt.points(bn), verdict));
    }
    if (has(Experiment.INIT)) {
      double no = initSpread(false), bn = initSpread(true);
      String verdict = bn < no - margin() ? String.format(Locale.ROOT, "yes: spread %.1f pp with BN, %.1f pp without", 100 * bn, 100 * no)
          : String.format(Locale.ROOT, "no: spread %.1f pp with BN, %.1f pp without (noise %s)", 100 * bn, 100 * no, m);
      rows.add(new Row("4. less sensitive to init", Training.Net.SIGMOID_3X100.description + ", weights x0.1, x1, x10",
          "spread (max - min) of final validation accuracy over the three scales",
          Fmt.points(no).substring(1), Fmt.points(bn).substring(1), verdict));
    }
    if (has(Experiment.LR)) {
      double no = largestUsableLr(false), bn = largestUsableLr(true);
      double top = Demo.LR_SWEEP[Demo.LR_SWEEP.length - 1];
      double topNo = lr(false, top).finalValidationAccuracy(), topBn = lr(true, top).finalValidationAccuracy();
      String verdict;
      if (bn > no) verdict = "yes: usable up to lr " + Fmt.number(bn) + " with BN, " + Fmt.number(no) + " without";
      else if (bn == no) verdict = "no: usable up to the same lr " + Fmt.number(bn) + " with and without BN";
      else verdict = "no: without BN a larger rate is usable (" + Fmt.number(no) + " vs " + Fmt.number(bn) + ")";
      verdict += String.format(Locale.ROOT, "; at lr %s: %s without BN, %s with; best %s without, %s with", Fmt.number(top),
          Fmt.accuracy(topNo), Fmt.accuracy(topBn), Fmt.accuracy(bestLrAccuracy(false)), Fmt.accuracy(bestLrAccuracy(true)));
      rows.add(new Row("5. larger learning rates", Training.Net.SIGMOID_3X100.description + ", SGD lr " + sweepText(),
          String.format(Locale.ROOT, "largest lr whose final accuracy is within %.0f pp of the net's best", 100 * Demo.USABLE),
          Fmt.number(no), Fmt.number(bn), verdict));
    }
    return rows;
  }

  private static String epochsText(int reached, int epochs) {
    return reached < 0 ? "> " + epochs : String.valueOf(reached);
  }

  static String sweepText() {
    StringBuilder sb = new StringBuilder();
    for (double lr : Demo.LR_SWEEP) sb.append(sb.isEmpty() ? "" : ", ").append(Fmt.number(lr));
    return sb.toString();
  }

  static String sci(double v) {
    return String.format(Locale.ROOT, "%.2g", v);
  }

  String table() {
    StringBuilder sb = new StringBuilder();
    sb.append("| claim | setup | decided by | without BN | with BN | reproduced? |\n");
    sb.append("| --- | --- | --- | ---: | ---: | --- |\n");
    for (Row r : rows()) {
      sb.append("| ").append(String.join(" | ", r.claim(), r.setup(), r.decidedBy(), r.withoutBn(), r.withBn(), r.verdict())).append(" |\n");
    }
    sb.append(String.format(Locale.ROOT, "%nFinal accuracy: the mean validation accuracy of the last %d epochs.", Training.FINAL_EPOCHS));
    sb.append(String.format(Locale.ROOT, " Accuracy differences under %.1f pp (two standard errors on %d evaluation samples) count as no difference.%n",
        100 * margin(), Math.min(data.validation().size(), data.test().size())));
    return sb.toString();
  }

  /** The run of a sweep: with or without BN, at one value of the swept setting. */
  interface Sweep {
    Training.Result run(boolean bn, double value);
  }

  double[] finalAccuracies(boolean bn, double[] values, Sweep sweep) {
    double[] acc = new double[values.length];
    for (int i = 0; i < acc.length; i++) acc[i] = sweep.run(bn, values[i]).finalValidationAccuracy();
    return acc;
  }

  private void sweepDetails(StringBuilder sb, String title, String prefix, double[] values, Sweep sweep) {
    sb.append(title).append('\n');
    for (boolean bn : new boolean[] {false, true}) {
      sb.append(String.format(Locale.ROOT, "  %-6s", bn ? "BN" : "no BN"));
      double[] acc = finalAccuracies(bn, values, sweep);
      for (int i = 0; i < values.length; i++) sb.append(String.format(Locale.ROOT, "  %s%s: %s", prefix, Fmt.number(values[i]), Fmt.accuracy(acc[i])));
      sb.append('\n');
    }
  }

  /** The numbers behind each row. */
  String details() {
    StringBuilder sb = new StringBuilder();
    if (has(Experiment.CONVERGENCE)) {
      sb.append("convergence: validation accuracy by epoch\n");
      for (boolean bn : new boolean[] {false, true}) {
        sb.append(String.format(Locale.ROOT, "  %-6s", bn ? "BN" : "no BN"));
        for (double a : convergence(bn).validationAccuracy()) sb.append(' ').append(Fmt.accuracy(a));
        sb.append('\n');
      }
    }
    if (has(Experiment.STABILITY)) {
      sb.append("stability: median gradient norm per Dense layer (1 = input side, last = logits)\n");
      for (boolean bn : new boolean[] {false, true}) {
        Training.Result r = stability(bn);
        sb.append(String.format(Locale.ROOT, "  %-6s", bn ? "BN" : "no BN"));
        for (int l = 0; l < r.gradientNorms().length; l++) sb.append(' ').append(sci(medianNorm(r, l)));
        sb.append(String.format(Locale.ROOT, "  (final validation accuracy %s)%n", Fmt.accuracy(r.finalValidationAccuracy())));
      }
    }
    if (has(Experiment.REGULARIZATION)) {
      sb.append("regularization: accuracy in inference mode after training\n");
      for (boolean bn : new boolean[] {false, true}) {
        for (boolean dropout : new boolean[] {false, true}) {
          Training.Result r = regularization(bn, dropout);
          sb.append(String.format(Locale.ROOT, "  %-13s train %s  test %s  gap %s%n", r.spec().label(), Fmt.accuracy(r.trainAccuracy()),
              Fmt.accuracy(r.testAccuracy()), Fmt.points(gap(r))));
        }
      }
    }
    if (has(Experiment.INIT)) sweepDetails(sb, "init: final validation accuracy by initial-weight scale", "x", Demo.INIT_SCALES, this::init);
    if (has(Experiment.LR)) sweepDetails(sb, "lr: final validation accuracy by SGD learning rate", "", Demo.LR_SWEEP, this::lr);
    return sb.toString();
  }
}
