package dev.vecnorm.bench;

import dev.vecnorm.LayerNorm;
import dev.vecnorm.NormShape;
import dev.vecnorm.RmsNorm;
import dev.vecnorm.bench.PeersReport.Case;
import dev.vecnorm.bench.PeersReport.Reply;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The vecnorm side of {@code Peers --norms}: {@link LayerNorm} and {@link RmsNorm} over the rows of an
 * NC tensor ({@code rows x features}), on the tensors, data, timing and checksums of {@link VecnormSide}
 * (whose {@link Workload} it borrows). Operations are {@code FAMILY.OP}; the checksums are batch norm's
 * with per-row statistics: training forward {@code Σ|y| + Σmean}, inference forward and RMS forward
 * {@code Σ|y|}, backward {@code Σ|dx| + ΣdGamma + ΣdBeta}. One thread only: the library has no
 * multi-threaded entry point for these yet, so a case with more threads is reported as not offered.
 */
final class NormsSide {
  private static final float EPSILON = VecnormSide.EPSILON;

  /** Transformer shapes ({@code tokens x features}) and one awkward width (a one-vector tail and 8 scalar floats at 16 lanes). */
  static final List<String> SHAPES = List.of("NC:2048x768", "NC:512x4096", "NC:1024x1000");
  static final List<String> QUICK = List.of("NC:2048x768", "NC:512x4096");

  private Workload statsFor;
  private float[] rowMean, rowInvStd;

  /** The cases of one shape: layer norm (training and inference forward, backward) and RMS norm (forward, backward) on NC. */
  static List<Case> cases(String shape, int[] threads) {
    if (!shape.startsWith("NC:")) throw new IllegalArgumentException("--norms shapes are NC:ROWSxFEATURES, got " + shape);
    List<Case> cases = new ArrayList<>();
    for (String op : List.of("layerNorm.trainingForward", "layerNorm.inferenceForward", "layerNorm.backward", "rmsNorm.forward", "rmsNorm.backward")) {
      for (int t : threads) cases.add(new Case(shape, op, false, t));
    }
    return cases;
  }

  Reply run(Workload w, Case c, double warmMs, double measureMs) {
    if (c.threads() != 1) return new Reply(false, true, Double.NaN, Double.NaN, "vecnorm has no multi-threaded " + c.family() + " yet");
    if (c.inPlace()) return Reply.error("the --norms cases run out of place only");
    int rows = w.shape.outer() * w.shape.inner(), features = w.shape.channels();
    if (statsFor != w) { // per-row statistics, sized once per shape
      statsFor = w;
      rowMean = new float[rows];
      rowInvStd = new float[rows];
    }
    float[] x = w.x, y = w.y, dy = w.dy, dx = w.dx, gamma = w.gamma, beta = w.beta, dGamma = w.dGamma, dBeta = w.dBeta;
    float[] mean = rowMean, invStd = rowInvStd;
    Runnable call;
    String detail;
    switch (c.op()) {
      case "layerNorm.trainingForward" -> {
        call = () -> LayerNorm.forward(rows, features, x, 0, gamma, beta, EPSILON, y, 0, mean, invStd);
        detail = "LayerNorm.forward";
      }
      case "layerNorm.inferenceForward" -> {
        call = () -> LayerNorm.forward(rows, features, x, 0, gamma, beta, EPSILON, y, 0, null, null);
        detail = "LayerNorm.forward, no statistics";
      }
      case "layerNorm.backward" -> {
        // The statistics backward needs come from a real training forward, as in training.
        LayerNorm.forward(rows, features, x, 0, gamma, beta, EPSILON, y, 0, mean, invStd);
        call = () -> LayerNorm.backward(rows, features, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
        detail = "LayerNorm.backward";
      }
      case "rmsNorm.forward" -> {
        call = () -> RmsNorm.forward(rows, features, x, 0, gamma, EPSILON, y, 0, invStd);
        detail = "RmsNorm.forward";
      }
      case "rmsNorm.backward" -> {
        RmsNorm.forward(rows, features, x, 0, gamma, EPSILON, y, 0, invStd);
        call = () -> RmsNorm.backward(rows, features, x, 0, dy, 0, gamma, invStd, dx, 0, dGamma);
        detail = "RmsNorm.backward";
      }
      default -> {
        return Reply.error("unknown op " + c.op());
      }
    }
    call.run();
    double checksum = switch (c.op()) { // after exactly one call on fresh data, as in the other workers
      case "layerNorm.trainingForward" -> VecnormSide.sumAbs(y) + VecnormSide.sum(mean);
      case "layerNorm.inferenceForward", "rmsNorm.forward" -> VecnormSide.sumAbs(y);
      case "layerNorm.backward" -> VecnormSide.sumAbs(dx) + VecnormSide.sum(dGamma) + VecnormSide.sum(dBeta);
      default -> VecnormSide.sumAbs(dx) + VecnormSide.sum(dGamma);
    };
    return new Reply(true, false, VecnormSide.medianNs(call, warmMs, measureMs), checksum, detail);
  }

  /**
   * The checksums every side should return, by operation, computed in double from the same float inputs
   * and independent of the kernels: per row the two-pass mean and biased variance, then the formulas of
   * {@link LayerNorm} and {@link RmsNorm} (also those of {@code torch.nn.functional.layer_norm} and of the
   * RMS expression).
   */
  static Map<String, Double> reference(Workload w) {
    NormShape s = w.shape;
    int rows = s.outer() * s.inner(), features = s.channels();
    double eps = EPSILON, training = 0, inference = 0, backward = 0, rmsForward = 0, rmsBackward = 0;
    for (int r = 0, o = 0; r < rows; r++, o += features) {
      double sum = 0, squares = 0;
      for (int f = 0; f < features; f++) {
        sum += w.x[o + f];
        squares += (double) w.x[o + f] * w.x[o + f];
      }
      double mean = sum / features, var = 0;
      for (int f = 0; f < features; f++) var += (w.x[o + f] - mean) * (w.x[o + f] - mean);
      double invStd = 1 / Math.sqrt(var / features + eps), invRms = 1 / Math.sqrt(squares / features + eps);
      double sumG = 0, sumGXhat = 0, sumGX = 0;
      for (int f = 0; f < features; f++) {
        double x = w.x[o + f], dy = w.dy[o + f], g = dy * w.gamma[f], xhat = (x - mean) * invStd;
        double y = w.gamma[f] * xhat + w.beta[f];
        inference += Math.abs(y);
        rmsForward += Math.abs(x * invRms * w.gamma[f]);
        sumG += g;
        sumGXhat += g * xhat;
        sumGX += g * x;
        backward += dy + dy * xhat; // Σ dBeta + Σ dGamma
        rmsBackward += dy * x * invRms; // Σ dGamma
      }
      training += mean;
      for (int f = 0; f < features; f++) {
        double x = w.x[o + f], g = w.dy[o + f] * w.gamma[f], xhat = (x - mean) * invStd;
        backward += Math.abs(invStd * (g - sumG / features - xhat * sumGXhat / features));
        rmsBackward += Math.abs(invRms * g - x * invRms * invRms * invRms * sumGX / features);
      }
    }
    Map<String, Double> m = new HashMap<>();
    m.put("layerNorm.trainingForward", training + inference);
    m.put("layerNorm.inferenceForward", inference);
    m.put("layerNorm.backward", backward);
    m.put("rmsNorm.forward", rmsForward);
    m.put("rmsNorm.backward", rmsBackward);
    return m;
  }
}
