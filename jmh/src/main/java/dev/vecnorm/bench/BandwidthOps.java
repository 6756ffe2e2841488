package dev.vecnorm.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * A streaming probe that moves the bytes each kernel must move, with trivial arithmetic, as fast as
 * Java can: statistics 1 read; training forward 1 read then 1 read + 1 write; inference 1 read +
 * 1 write; backward 2 reads then 2 reads + 1 write. Its GB/s is this machine's ceiling for the kernel.
 */
final class BandwidthOps implements Ops {
  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

  static float read(float[] a) {
    return read(a, 0, a.length);
  }

  /** {@link #read(float[])} of {@code n} floats from element {@code from} ({@link AlignmentProbe}: any start within a line). */
  static float read(float[] a, int from, int n) {
    FloatVector acc0 = FloatVector.zero(SPECIES), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int step = SPECIES.length(), i = from, bound = from + n - n % (4 * step);
    for (; i < bound; i += 4 * step) {
      acc0 = acc0.add(FloatVector.fromArray(SPECIES, a, i));
      acc1 = acc1.add(FloatVector.fromArray(SPECIES, a, i + step));
      acc2 = acc2.add(FloatVector.fromArray(SPECIES, a, i + 2 * step));
      acc3 = acc3.add(FloatVector.fromArray(SPECIES, a, i + 3 * step));
    }
    float s = acc0.add(acc1).add(acc2).add(acc3).reduceLanes(VectorOperators.ADD);
    for (; i < from + n; i++) s += a[i];
    return s;
  }

  static float read2(float[] a, float[] b) {
    FloatVector acc0 = FloatVector.zero(SPECIES), acc1 = acc0;
    int step = SPECIES.length(), i = 0, bound = SPECIES.loopBound(a.length);
    for (; i < bound; i += step) {
      acc0 = acc0.add(FloatVector.fromArray(SPECIES, a, i));
      acc1 = acc1.add(FloatVector.fromArray(SPECIES, b, i));
    }
    float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    for (; i < a.length; i++) s += a[i] + b[i];
    return s;
  }

  static void copy(float[] in, float[] out, float scale) {
    copy(in, out, 0, in.length, scale);
  }

  /** {@link #copy(float[], float[], float)} over elements {@code [from, to)} only: one thread's part of a copy. */
  static void copy(float[] in, float[] out, int from, int to, float scale) {
    int step = SPECIES.length(), i = from, bound = from + SPECIES.loopBound(to - from);
    for (; i < bound; i += step) FloatVector.fromArray(SPECIES, in, i).mul(scale).intoArray(out, i);
    for (; i < to; i++) out[i] = in[i] * scale;
  }

  static void combine(float[] a, float[] b, float[] out, float scale) {
    int step = SPECIES.length(), i = 0, bound = SPECIES.loopBound(a.length);
    for (; i < bound; i += step) {
      FloatVector.fromArray(SPECIES, a, i).mul(scale).add(FloatVector.fromArray(SPECIES, b, i)).intoArray(out, i);
    }
    for (; i < a.length; i++) out[i] = a[i] * scale + b[i];
  }

  @Override
  public Object statistics(Workload w) {
    return read(w.x);
  }

  @Override
  public Object trainingForward(Workload w) {
    copy(w.x, w.y, read(w.x));
    return w.y;
  }

  @Override
  public Object inferenceForward(Workload w) {
    copy(w.x, w.y, 0.5f);
    return w.y;
  }

  @Override
  public Object backward(Workload w) {
    combine(w.x, w.dy, w.dx, read2(w.x, w.dy));
    return w.dx;
  }

  @Override
  public Object movingUpdate(Workload w) {
    return w.movingVariance;
  }
}
