package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.Moments;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The library's {@code MemorySegment} entry points over copies of the workload's tensors: native
 * segments (what ND4J, DJL or Arrow hand over) or heap segments of a {@code float[]}. Per-channel
 * arrays are the workload's own, so results compare with {@link LibraryOps} on the same data.
 */
final class SegmentOps implements Ops {
  private final boolean offHeap;
  private Workload bound;
  private MemorySegment x, y, dy, dx;
  private Moments moments;

  SegmentOps(boolean offHeap) {
    this.offHeap = offHeap;
  }

  /** Segments are made once per workload (trial), outside the measured calls; SegmentCheck binds before timing. */
  void bind(Workload w) {
    if (bound == w) return;
    x = copy(w.x);
    y = copy(w.y);
    dy = copy(w.dy);
    dx = copy(w.dx);
    moments = new Moments(w.shape.channels());
    bound = w;
  }

  private MemorySegment copy(float[] a) {
    if (!offHeap) return MemorySegment.ofArray(a.clone());
    // 64-byte aligned, as native tensor libraries allocate; Arena.ofAuto frees it with the benchmark state.
    MemorySegment s = Arena.ofAuto().allocate(4L * a.length, 64);
    MemorySegment.copy(a, 0, s, ValueLayout.JAVA_FLOAT, 0, a.length);
    return s;
  }

  @Override
  public Object statistics(Workload w) {
    bind(w);
    BatchNorm.moments(w.shape, x, 0, moments);
    return moments;
  }

  @Override
  public Object trainingForward(Workload w) {
    bind(w);
    BatchNorm.forwardTraining(w.shape, x, 0, w.gamma, w.beta, Workload.EPSILON, y, 0, w.mean, w.variance, w.invStd);
    return y;
  }

  @Override
  public Object inferenceForward(Workload w) {
    bind(w);
    BatchNorm.forwardInference(w.shape, x, 0, w.gamma, w.beta, w.movingMean, w.movingVariance, Workload.EPSILON, y, 0);
    return y;
  }

  @Override
  public Object backward(Workload w) {
    bind(w);
    BatchNorm.backward(w.shape, x, 0, dy, 0, w.gamma, w.mean, w.invStd, dx, 0, w.dGamma, w.dBeta);
    return dx;
  }

  @Override
  public Object movingUpdate(Workload w) {
    BatchNorm.updateMovingStatistics(Workload.MOMENTUM, w.mean, w.variance, w.movingMean, w.movingVariance);
    return w.movingVariance;
  }
}
