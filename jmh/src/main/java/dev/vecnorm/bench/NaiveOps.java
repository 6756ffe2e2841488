package dev.vecnorm.bench;

import dev.vecnorm.NormShape;

/**
 * What a user writes from the textbook: nested loops per layout, separate mean and variance passes,
 * a division per element. The baseline for "how much does the library buy me".
 */
final class NaiveOps implements Ops {

  @Override
  public Object statistics(Workload w) {
    meanAndVariance(w.shape, w.x, w.mean, w.variance);
    return w.variance;
  }

  static void meanAndVariance(NormShape s, float[] x, float[] mean, float[] var) {
    int C = s.channels();
    float n = s.countPerChannel();
    java.util.Arrays.fill(mean, 0);
    java.util.Arrays.fill(var, 0);
    for (int o = 0; o < s.outer(); o++)
      for (int c = 0; c < C; c++)
        for (int i = 0; i < s.inner(); i++) mean[c] += x[(o * C + c) * s.inner() + i];
    for (int c = 0; c < C; c++) mean[c] /= n;
    for (int o = 0; o < s.outer(); o++)
      for (int c = 0; c < C; c++)
        for (int i = 0; i < s.inner(); i++) {
          float d = x[(o * C + c) * s.inner() + i] - mean[c];
          var[c] += d * d;
        }
    for (int c = 0; c < C; c++) var[c] /= n;
  }

  @Override
  public Object trainingForward(Workload w) {
    meanAndVariance(w.shape, w.x, w.mean, w.variance);
    normalize(w.shape, w.x, w.mean, w.variance, w.gamma, w.beta, w.y);
    for (int c = 0; c < w.invStd.length; c++) w.invStd[c] = 1f / (float) Math.sqrt(w.variance[c] + Workload.EPSILON);
    return w.y;
  }

  static void normalize(NormShape s, float[] x, float[] mean, float[] var, float[] gamma, float[] beta, float[] y) {
    int C = s.channels();
    for (int o = 0; o < s.outer(); o++)
      for (int c = 0; c < C; c++)
        for (int i = 0; i < s.inner(); i++) {
          int k = (o * C + c) * s.inner() + i;
          y[k] = gamma[c] * (x[k] - mean[c]) / (float) Math.sqrt(var[c] + Workload.EPSILON) + beta[c];
        }
  }

  @Override
  public Object inferenceForward(Workload w) {
    normalize(w.shape, w.x, w.movingMean, w.movingVariance, w.gamma, w.beta, w.y);
    return w.y;
  }

  @Override
  public Object backward(Workload w) {
    NormShape s = w.shape;
    int C = s.channels();
    float n = s.countPerChannel();
    float[] sumDy = w.dBeta, sumDyXhat = w.dGamma;
    java.util.Arrays.fill(sumDy, 0);
    java.util.Arrays.fill(sumDyXhat, 0);
    for (int o = 0; o < s.outer(); o++)
      for (int c = 0; c < C; c++)
        for (int i = 0; i < s.inner(); i++) {
          int k = (o * C + c) * s.inner() + i;
          sumDy[c] += w.dy[k];
          sumDyXhat[c] += w.dy[k] * (w.x[k] - w.mean[c]) * w.invStd[c];
        }
    for (int o = 0; o < s.outer(); o++)
      for (int c = 0; c < C; c++)
        for (int i = 0; i < s.inner(); i++) {
          int k = (o * C + c) * s.inner() + i;
          float xhat = (w.x[k] - w.mean[c]) * w.invStd[c];
          w.dx[k] = w.gamma[c] * w.invStd[c] * (w.dy[k] - sumDy[c] / n - xhat * sumDyXhat[c] / n);
        }
    return w.dx;
  }

  @Override
  public Object movingUpdate(Workload w) {
    for (int c = 0; c < w.mean.length; c++) {
      w.movingMean[c] = w.movingMean[c] * Workload.MOMENTUM + w.mean[c] * (1 - Workload.MOMENTUM);
      w.movingVariance[c] = w.movingVariance[c] * Workload.MOMENTUM + w.variance[c] * (1 - Workload.MOMENTUM);
    }
    return w.movingVariance;
  }
}
