package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/** Every chunk runs exactly once, whoever claims it, for any count and participant number. */
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
}
