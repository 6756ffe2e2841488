package dev.vecnorm.layers;

import dev.vecnorm.Moments;
import java.time.Duration;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Synchronized batch norm for N replicas running on threads of one JVM. Each replica takes its own
 * {@link #replica(int)} handle. Contributions are combined in replica order, so every replica gets
 * the same bits whatever the thread timing. {@link StatisticsReducer#abort} on any handle breaks the
 * barrier: every replica waiting in a call, and every later call, throws at once.
 */
public final class InProcessStatisticsReducer {
  private final int replicas;
  private final CyclicBarrier barrier;
  private final Moments[] moments;
  private final float[][] sumDy, sumDyXhat;
  private final long timeoutSeconds;
  private volatile Throwable abortCause;
  private volatile boolean aborted;

  /**
   * A reducer for {@code replicas} threads that wait up to 60 s for each other.
   *
   * @param replicas number of replicas, at least 1
   */
  public InProcessStatisticsReducer(int replicas) {
    this(replicas, 60);
  }

  /**
   * {@code timeoutSeconds}: how long a replica waits for the others before failing (never hangs forever).
   *
   * @param replicas number of replicas, at least 1
   * @param timeoutSeconds how long a replica waits for the others, in seconds
   */
  public InProcessStatisticsReducer(int replicas, long timeoutSeconds) {
    if (replicas < 1) throw new IllegalArgumentException("replicas must be >= 1, got " + replicas);
    this.replicas = replicas;
    this.barrier = new CyclicBarrier(replicas);
    this.moments = new Moments[replicas];
    this.sumDy = new float[replicas][];
    this.sumDyXhat = new float[replicas][];
    this.timeoutSeconds = timeoutSeconds;
  }

  /**
   * Number of replicas.
   *
   * @return the replica count
   */
  public int replicas() {
    return replicas;
  }

  /**
   * The handle replica {@code index} passes to its layer.
   *
   * @param index the replica, from 0 to {@code replicas() - 1}
   * @return the replica's handle
   */
  public StatisticsReducer replica(int index) {
    if (index < 0 || index >= replicas) throw new IllegalArgumentException("index must be in [0, " + replicas + "), got " + index);
    return new StatisticsReducer() {
      @Override
      public Moments allGatherMoments(Moments local) {
        moments[index] = local;
        await();
        Moments global = new Moments(local.channels());
        for (Moments m : moments) global.merge(m);
        await(); // nobody overwrites a slot until everyone has read all of them
        return global;
      }

      @Override
      public void allReduceSum(float[] dy, float[] dyXhat) {
        sumDy[index] = dy.clone();
        sumDyXhat[index] = dyXhat.clone();
        await();
        java.util.Arrays.fill(dy, 0);
        java.util.Arrays.fill(dyXhat, 0);
        for (int r = 0; r < replicas; r++) {
          for (int c = 0; c < dy.length; c++) {
            dy[c] += sumDy[r][c];
            dyXhat[c] += sumDyXhat[r][c];
          }
        }
        await();
      }

      @Override
      public int rank() {
        return index;
      }

      @Override
      public int replicas() {
        return replicas;
      }

      @Override
      public Duration timeout() {
        return Duration.ofSeconds(timeoutSeconds);
      }

      @Override
      public void abort(Throwable cause) {
        abortCause = cause;
        aborted = true;
        barrier.reset(); // threads waiting in await() get BrokenBarrierException now
      }
    };
  }

  private void await() {
    if (aborted) throw new IllegalStateException("the replicas were aborted", abortCause);
    try {
      barrier.await(timeoutSeconds, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the other replicas", e);
    } catch (BrokenBarrierException e) {
      if (aborted) throw new IllegalStateException("the replicas were aborted", abortCause);
      throw new IllegalStateException("another replica failed or timed out", e);
    } catch (TimeoutException e) {
      throw new IllegalStateException("replicas did not all arrive within " + timeoutSeconds + " s", e);
    }
  }
}
