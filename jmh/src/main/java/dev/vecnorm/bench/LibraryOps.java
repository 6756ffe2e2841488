package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.Moments;

/** The library's public API, as a user calls it. Which kernels run (vector or scalar) is the JVM's choice. */
final class LibraryOps implements Ops {
  private Moments moments;

  @Override
  public Object statistics(Workload w) {
    if (moments == null || moments.channels() != w.shape.channels()) moments = new Moments(w.shape.channels());
    BatchNorm.moments(w.shape, w.x, 0, moments);
    return moments;
  }

  @Override
  public Object trainingForward(Workload w) {
    BatchNorm.forwardTraining(w.shape, w.x, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, w.mean, w.variance, w.invStd);
    return w.y;
  }

  @Override
  public Object inferenceForward(Workload w) {
    BatchNorm.forwardInference(w.shape, w.x, 0, w.gamma, w.beta, w.movingMean, w.movingVariance, Workload.EPSILON, w.y, 0);
    return w.y;
  }

  @Override
  public Object backward(Workload w) {
    BatchNorm.backward(w.shape, w.x, 0, w.dy, 0, w.gamma, w.mean, w.invStd, w.dx, 0, w.dGamma, w.dBeta);
    return w.dx;
  }

  @Override
  public Object movingUpdate(Workload w) {
    BatchNorm.updateMovingStatistics(Workload.MOMENTUM, w.mean, w.variance, w.movingMean, w.movingVariance);
    return w.movingVariance;
  }
}
