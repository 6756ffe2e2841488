package dev.vecnorm.spark;

import dev.vecnorm.Moments;
import dev.vecnorm.layers.StatisticsReducer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;

/**
 * Synchronized batch norm across JVMs: the {@link StatisticsReducer} of one replica of a barrier stage, on a
 * {@link RingCollective}. Both collectives are one ring all-gather (one round each); every replica then merges
 * the contributions itself in rank order, exactly as {@link dev.vecnorm.layers.InProcessStatisticsReducer}
 * does, so every replica holds the same bits, and the bits of the in-process reducer with the same replicas.
 * The payloads are a few floats per channel, so gathering costs no more than reducing would.
 */
public final class RingStatisticsReducer implements StatisticsReducer {
  private final RingCollective ring;

  /**
   * The reducer of this replica of the ring.
   *
   * @param ring this replica's end of the ring; not null
   */
  public RingStatisticsReducer(RingCollective ring) {
    this.ring = Objects.requireNonNull(ring, "ring");
  }

  @Override
  public Moments allGatherMoments(Moments local) {
    double[] packed = local.pack();
    ByteBuffer bytes = ByteBuffer.allocate(packed.length * Double.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    bytes.asDoubleBuffer().put(packed);
    byte[][] all = ring.allGather(bytes.array());
    Moments global = new Moments(local.channels());
    for (int r = 0; r < all.length; r++) {
      if (all[r].length != bytes.capacity()) {
        throw new IllegalStateException("rank " + r + " sent moments of " + (all[r].length / Double.BYTES - 1) / 2 + " channels, rank "
            + ring.rank() + " has " + local.channels() + ": the replicas run different models");
      }
      double[] theirs = new double[packed.length];
      ByteBuffer.wrap(all[r]).order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(theirs);
      global.merge(Moments.unpack(theirs));
    }
    return global;
  }

  @Override
  public void allReduceSum(float[] sumDy, float[] sumDyXhat) {
    int channels = sumDy.length;
    if (sumDyXhat.length != channels) {
      throw new IllegalArgumentException("sumDyXhat must have length sumDy.length = " + channels + ", got " + sumDyXhat.length);
    }
    ByteBuffer bytes = ByteBuffer.allocate(2 * channels * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    bytes.asFloatBuffer().put(sumDy).put(sumDyXhat);
    byte[][] all = ring.allGather(bytes.array());
    Arrays.fill(sumDy, 0);
    Arrays.fill(sumDyXhat, 0);
    float[] theirs = new float[2 * channels];
    for (int r = 0; r < all.length; r++) { // rank order: the in-process reducer's order, the same everywhere
      if (all[r].length != bytes.capacity()) {
        throw new IllegalStateException("rank " + r + " sent sums of " + all[r].length / Float.BYTES / 2 + " channels, rank "
            + ring.rank() + " has " + channels + ": the replicas run different models");
      }
      ByteBuffer.wrap(all[r]).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(theirs);
      for (int c = 0; c < channels; c++) {
        sumDy[c] += theirs[c];
        sumDyXhat[c] += theirs[channels + c];
      }
    }
  }

  @Override
  public int rank() {
    return ring.rank();
  }

  @Override
  public int replicas() {
    return ring.size();
  }

  @Override
  public Duration timeout() {
    return ring.timeout();
  }

  @Override
  public void abort(Throwable cause) {
    ring.abort(cause);
  }

  @Override
  public void close() {
    ring.close();
  }
}
