package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

  /** help() reports a loop it ran alone (SpinPool's sign that the caller was off its processor), and only that. */
  @Test
  void aHelperReportsALoopItRanAlone() throws Exception {
    ChunkJob job = new ChunkJob(2);
    for (int count = 0; count <= 6; count++) {
      AtomicIntegerArray runs = new AtomicIntegerArray(Math.max(1, count));
      job.open(runs::incrementAndGet, count);
      assertEquals(count > 1, job.help(1), count + " chunks, the helper before the caller"); // one chunk is no sign
      job.runAsCaller();
      job.finish();
      job.open(runs::incrementAndGet, count);
      job.runAsCaller();
      assertFalse(job.help(1), count + " chunks, the caller before the helper");
      job.finish();
      for (int i = 0; i < count; i++) assertEquals(2, runs.get(i), count + " chunks, chunk " + i);
    }
    // The caller inside its first chunk while a helper takes every other one: shared, so no sign.
    boolean[] alone = {true};
    AtomicIntegerArray runs = new AtomicIntegerArray(4);
    job.open(i -> {
      runs.incrementAndGet(i);
      if (i == 0) {
        Thread h = Thread.ofPlatform().start(() -> alone[0] = job.help(1));
        try {
          h.join(10_000);
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
      }
    }, 4);
    job.runAsCaller();
    job.finish();
    assertFalse(alone[0], "a helper that ran 3 of 4 chunks");
    for (int i = 0; i < 4; i++) assertEquals(1, runs.get(i), "chunk " + i);
  }
}
