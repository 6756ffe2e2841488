package dev.vecnorm.layers;

import dev.vecnorm.Moments;
import java.time.Duration;

/**
 * Cross-replica communication for {@code BatchNormalization(synchronized=true)}: the two collectives
 * synchronized batch norm needs, as PyTorch's SyncBatchNorm. Every replica of a step calls the same
 * methods in the same order. Implementations must give every replica the same result.
 *
 * <p>A reducer between processes or machines also says who it is ({@link #rank()} of {@link #replicas()}),
 * how long it waits for the others ({@link #timeout()}: a replica that dies or stalls makes the others fail
 * within it, never hang), and can be torn down: {@link #abort} fails every pending and later call on this
 * replica at once (and, through the transport, on the others), {@link #close} releases it after the last step.
 * The defaults describe a single replica that never waits, so an implementation of only the two collectives
 * keeps working.
 */
public interface StatisticsReducer extends AutoCloseable {

  /**
   * All-gather of local (count, mean, M2) per channel, merged: the moments of the global batch.
   *
   * @param local this replica's moments; not modified
   * @return the merged moments, the same on every replica
   */
  Moments allGatherMoments(Moments local);

  /**
   * All-reduce (sum) of the local backward sums, in place.
   *
   * @param sumDy this replica's per-channel {@code sum(dy)}, replaced by the sum over replicas
   * @param sumDyXhat this replica's per-channel {@code sum(dy * xhat)}, replaced by the sum over replicas
   */
  void allReduceSum(float[] sumDy, float[] sumDyXhat);

  /**
   * This replica's index. Results are merged in rank order, which is what makes them identical everywhere.
   *
   * @return the rank, from 0 to {@code replicas() - 1}; 0 by default
   */
  default int rank() {
    return 0;
  }

  /**
   * How many replicas take part in every call.
   *
   * @return the replica count, at least 1; 1 by default
   */
  default int replicas() {
    return 1;
  }

  /**
   * The longest a call waits for the other replicas before it throws {@code IllegalStateException}.
   *
   * @return the timeout; {@code Duration.ZERO} by default (a single replica never waits)
   */
  default Duration timeout() {
    return Duration.ZERO;
  }

  /**
   * Fails this replica's pending call, if any, and every later one, with an exception whose cause is
   * {@code cause}; the other replicas' calls fail as soon as the transport notices. Called from another
   * thread when the job that runs the replicas is cancelled. Idempotent; no-op by default.
   *
   * @param cause why the replicas stop, kept as the cause of the exceptions; may be null
   */
  default void abort(Throwable cause) {}

  /** Releases what the reducer holds (sockets, threads) after the last step; no-op by default. Idempotent. */
  @Override
  default void close() {}
}
