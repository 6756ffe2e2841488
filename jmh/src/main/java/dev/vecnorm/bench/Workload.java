package dev.vecnorm.bench;

import dev.vecnorm.NormShape;
import java.util.SplittableRandom;

/**
 * The tensors of one benchmark shape, parsed from a {@code @Param} such as {@code "NHWC:64x56x56x64"}
 * (N x H x W x C, channels last), {@code "NCHW:64x56x56x64"} (same sizes, channels first) or
 * {@code "NC:256x1024"} (dense, N x C).
 */
public final class Workload {
  public final String label;
  public final NormShape shape;
  public final float[] x, y, dy, dx;
  public final float[] gamma, beta, mean, variance, invStd, movingMean, movingVariance, dGamma, dBeta;
  public static final float EPSILON = 1e-3f;
  public static final float MOMENTUM = 0.99f;

  public Workload(String label) {
    this.label = label;
    this.shape = parse(label);
    int n = Math.toIntExact(shape.size()), c = shape.channels();
    SplittableRandom r = new SplittableRandom(label.hashCode());
    x = new float[n];
    dy = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (r.nextGaussian() * 2 + 1);
      dy[i] = (float) r.nextGaussian();
    }
    y = new float[n];
    dx = new float[n];
    gamma = new float[c];
    beta = new float[c];
    mean = new float[c];
    variance = new float[c];
    invStd = new float[c];
    movingMean = new float[c];
    movingVariance = new float[c];
    dGamma = new float[c];
    dBeta = new float[c];
    for (int i = 0; i < c; i++) {
      gamma[i] = 1f + 0.01f * i % 3;
      beta[i] = 0.1f * (i % 5);
      movingVariance[i] = 1f;
    }
  }

  public static NormShape parse(String label) {
    int colon = label.indexOf(':');
    if (colon < 0) throw new IllegalArgumentException("shape must be LAYOUT:DIMS, e.g. NHWC:64x56x56x64, got " + label);
    String layout = label.substring(0, colon);
    String[] parts = label.substring(colon + 1).split("x");
    int[] d = new int[parts.length];
    for (int i = 0; i < d.length; i++) d[i] = Integer.parseInt(parts[i]);
    return switch (layout) {
      case "NC" -> NormShape.channelsLast(d[0], d[1]);
      case "NHWC" -> NormShape.channelsLast(d[0] * d[1] * d[2], d[3]);
      case "NCHW" -> NormShape.channelsFirst(d[0], d[3], d[1] * d[2]);
      default -> throw new IllegalArgumentException("layout must be NC, NHWC or NCHW, got " + layout);
    };
  }
}
