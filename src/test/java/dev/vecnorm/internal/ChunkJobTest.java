package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/**
 * Every chunk runs exactly once, whoever claims it, for any count and participant number; a loop's
 * barriers order its phases.
 */
class ChunkJobTest {

  @Test
  void everyChunkRunsExactlyOnceOnASpinPool() {
    for (int workers : new int[] {0, 1, 2, 5}) {
      try (SpinPool pool = new SpinPool(workers, "chunk-job-test")) {
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
          for (int count = 0; count <= 40; count++) {
            for (int repeat = 0; repeat < 20; repeat++) {
              AtomicIntegerArray runs = new AtomicIntegerArray(Math.max(1, count));
              pool.run(runs::incrementAndGet, count);
              for (int i = 0; i < count; i++) assertEquals(1, runs.get(i), workers + " workers, " + count + " chunks, chunk " + i);
            }
          }
        });
      }
    }
  }

  @Test
  void helpersOfAnExecutorAndTheCallerShareTheLoop() throws Exception {
    ChunkJob job = new ChunkJob(3);
    for (int count = 1; count <= 30; count++) {
      AtomicIntegerArray runs = new AtomicIntegerArray(count);
      job.open(runs::incrementAndGet, count);
      Thread a = Thread.ofPlatform().start(job.helper), b = Thread.ofPlatform().start(job.helper);
      job.runAsCaller();
      a.join(10_000);
      b.join(10_000);
      job.finish();
      for (int i = 0; i < count; i++) assertEquals(1, runs.get(i), count + " chunks, chunk " + i);
      job.help(1); // after finish: a late helper does nothing
      for (int i = 0; i < count; i++) assertEquals(1, runs.get(i), "late helper ran chunk " + i);
    }
  }

  /**
   * Phases split at two barriers, empty phases included: each index runs once, and no index of a phase
   * starts before every index of the earlier phases has ended (start and end stamps from one clock).
   */
  @Test
  void barriersOrderThePhasesOnASpinPool() {
    int[][] phases = {{7, 3, 11}, {2, 1, 2}, {5, 0, 5}, {0, 4, 6}, {1, 1, 1}, {3, 3, 0}, {0, 0, 9}, {40, 2, 40}};
    for (int workers : new int[] {0, 1, 2, 3}) {
      try (SpinPool pool = new SpinPool(workers, "chunk-job-barriers")) {
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
          for (int[] sizes : phases) {
            int b1 = sizes[0], b2 = b1 + sizes[1], count = b2 + sizes[2];
            for (int repeat = 0; repeat < 20; repeat++) {
              AtomicInteger clock = new AtomicInteger();
              AtomicIntegerArray runs = new AtomicIntegerArray(Math.max(1, count)), start = new AtomicIntegerArray(Math.max(1, count)),
                  end = new AtomicIntegerArray(Math.max(1, count));
              pool.run(i -> {
                start.set(i, clock.incrementAndGet());
                runs.incrementAndGet(i);
                for (int k = (i % 4) * 500; k > 0; k--) Thread.onSpinWait(); // uneven work: without the barrier, phases overlap
                end.set(i, clock.incrementAndGet());
              }, b1, b2, count);
              String what = workers + " workers, phases " + sizes[0] + "/" + sizes[1] + "/" + sizes[2];
              for (int i = 0; i < count; i++) {
                assertEquals(1, runs.get(i), what + ", index " + i);
                for (int j = 0; j < count; j++) {
                  if (phase(j, b1, b2) < phase(i, b1, b2)) {
                    assertTrue(end.get(j) < start.get(i), what + ": index " + i + " started before earlier phase's " + j + " ended");
                  }
                }
              }
            }
          }
        });
      }
    }
  }

  private static int phase(int i, int b1, int b2) {
    return i < b1 ? 0 : i < b2 ? 1 : 2;
  }

  /** A failing index of the first phase: the loop throws it, nobody waits forever at the barrier, the later phases do not run. */
  @Test
  void aFailureBeforeABarrierEndsTheLoop() {
    for (int workers : new int[] {0, 1, 3}) {
      try (SpinPool pool = new SpinPool(workers, "chunk-job-failure")) {
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
          for (int repeat = 0; repeat < 20; repeat++) {
            AtomicIntegerArray runs = new AtomicIntegerArray(12);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.run(i -> {
              runs.incrementAndGet(i);
              if (i == 2) throw new IllegalStateException("index 2");
            }, 4, 8, 12));
            assertEquals("index 2", e.getMessage());
            for (int i = 8; i < 12; i++) assertEquals(0, runs.get(i), workers + " workers: last phase's index " + i + " ran");
            AtomicIntegerArray again = new AtomicIntegerArray(12);
            pool.run(again::incrementAndGet, 4, 8, 12);
            for (int i = 0; i < 12; i++) assertEquals(1, again.get(i), workers + " workers: the pool still works, index " + i);
          }
        });
      }
    }
  }
}
