package dev.vecnorm.layers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.Moments;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What StatisticsReducer grew for cross-machine use (rank, count, timeout, abort), on the in-process reducer. */
class InProcessStatisticsReducerTest {

  @Test
  void handlesKnowTheirRankCountAndTimeout() {
    InProcessStatisticsReducer group = new InProcessStatisticsReducer(3, 7);
    for (int r = 0; r < 3; r++) {
      StatisticsReducer h = group.replica(r);
      assertEquals(r, h.rank());
      assertEquals(3, h.replicas());
      assertEquals(Duration.ofSeconds(7), h.timeout());
    }
  }

  @Test
  void aDefaultReducerIsOneReplicaThatNeverWaits() {
    StatisticsReducer alone = new StatisticsReducer() {
      @Override
      public Moments allGatherMoments(Moments local) {
        return local;
      }

      @Override
      public void allReduceSum(float[] sumDy, float[] sumDyXhat) {}
    };
    assertEquals(0, alone.rank());
    assertEquals(1, alone.replicas());
    assertEquals(Duration.ZERO, alone.timeout());
    alone.abort(null);
    alone.close();
  }

  /** A replica blocked waiting for a peer that never comes is released by abort long before its 60 s timeout. */
  @Test
  @Timeout(20)
  void abortReleasesAWaitingReplicaAndFailsLaterCalls() throws Exception {
    InProcessStatisticsReducer group = new InProcessStatisticsReducer(2, 60);
    StatisticsReducer waiting = group.replica(0), other = group.replica(1);
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      Future<?> blocked = pool.submit(() -> waiting.allReduceSum(new float[] {1}, new float[] {2}));
      Thread.sleep(200); // let it reach the barrier
      RuntimeException why = new RuntimeException("stage cancelled");
      long t0 = System.nanoTime();
      other.abort(why);
      Exception e = assertThrows(java.util.concurrent.ExecutionException.class, () -> blocked.get(10, TimeUnit.SECONDS));
      assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10));
      assertTrue(e.getCause() instanceof IllegalStateException, String.valueOf(e.getCause()));
      assertSame(why, e.getCause().getCause());
      IllegalStateException later = assertThrows(IllegalStateException.class, () -> waiting.allGatherMoments(new Moments(1)));
      assertSame(why, later.getCause());
    } finally {
      pool.shutdownNow();
    }
  }
}
