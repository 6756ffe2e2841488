package dev.vecnorm;

import java.util.SplittableRandom;

/** Batch normalization in double precision, written from the definitions, for tests to compare against. */
final class Reference {
  private Reference() {}

  static int index(NormShape s, int o, int c, int i) {
    return (o * s.channels() + c) * s.inner() + i;
  }

  /** Two-pass mean and biased variance per channel, in double. Returns {mean, variance}. */
  static double[][] moments(NormShape s, float[] x, int off) {
    int C = s.channels();
    double[] mean = new double[C], var = new double[C];
    double n = s.countPerChannel();
    for (int c = 0; c < C; c++) {
      double sum = 0;
      for (int o = 0; o < s.outer(); o++) for (int i = 0; i < s.inner(); i++) sum += x[off + index(s, o, c, i)];
      mean[c] = sum / n;
      double sq = 0;
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          double d = x[off + index(s, o, c, i)] - mean[c];
          sq += d * d;
        }
      }
      var[c] = sq / n;
    }
    return new double[][] {mean, var};
  }

  /** y = gamma * (x - mean) / sqrt(var + eps) + beta, in double, for given statistics. */
  static double[] normalize(NormShape s, float[] x, int off, double[] mean, double[] var, double eps, float[] gamma, float[] beta) {
    double[] y = new double[(int) s.size()];
    for (int o = 0; o < s.outer(); o++) {
      for (int c = 0; c < s.channels(); c++) {
        double inv = 1 / Math.sqrt(var[c] + eps);
        double g = gamma == null ? 1 : gamma[c], b = beta == null ? 0 : beta[c];
        for (int i = 0; i < s.inner(); i++) {
          int k = index(s, o, c, i);
          y[k] = g * (x[off + k] - mean[c]) * inv + b;
        }
      }
    }
    return y;
  }

  /** Backward of training-mode batch norm in double: returns {dx, dGamma, dBeta}. */
  static double[][] backward(NormShape s, float[] x, int xOff, float[] dy, int dyOff, float[] gamma, double eps) {
    double[][] st = moments(s, x, xOff);
    int C = s.channels();
    double n = s.countPerChannel();
    double[] dx = new double[(int) s.size()], dGamma = new double[C], dBeta = new double[C];
    for (int c = 0; c < C; c++) {
      double inv = 1 / Math.sqrt(st[1][c] + eps), sumDy = 0, sumDyXhat = 0;
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          int k = index(s, o, c, i);
          sumDy += dy[dyOff + k];
          sumDyXhat += dy[dyOff + k] * (x[xOff + k] - st[0][c]) * inv;
        }
      }
      dGamma[c] = sumDyXhat;
      dBeta[c] = sumDy;
      double g = gamma == null ? 1 : gamma[c];
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          int k = index(s, o, c, i);
          double xhat = (x[xOff + k] - st[0][c]) * inv;
          dx[k] = g * inv * (dy[dyOff + k] - sumDy / n - xhat * sumDyXhat / n);
        }
      }
    }
    return new double[][] {dx, dGamma, dBeta};
  }

  /** Gaussian floats with a per-channel mean and scale, so channels differ. */
  static float[] data(NormShape s, int pad, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[(int) s.size() + 2 * pad];
    for (int k = 0; k < x.length; k++) x[k] = (float) r.nextGaussian();
    for (int o = 0; o < s.outer(); o++) {
      for (int c = 0; c < s.channels(); c++) {
        float shift = (c % 7) - 3f, scale = 0.5f + (c % 5);
        for (int i = 0; i < s.inner(); i++) {
          int k = pad + index(s, o, c, i);
          x[k] = x[k] * scale + shift;
        }
      }
    }
    return x;
  }

  static float[] perChannel(int channels, double base, double spread, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] a = new float[channels];
    for (int c = 0; c < channels; c++) a[c] = (float) (base + spread * r.nextGaussian());
    return a;
  }
}
