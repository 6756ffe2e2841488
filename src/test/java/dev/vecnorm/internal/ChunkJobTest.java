package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/**
 * Every chunk runs exactly once, whoever claims it, for any count and participant number; a phased loop
 * starts no index of a phase before every index of the previous one has completed.
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

  /** Records each index's runs and whether any index started before its previous phase was complete. */
  static final class Recorder implements ChunkJob.Phases {
    final int[] counts;
    final AtomicIntegerArray[] runs = new AtomicIntegerArray[ChunkJob.MAX_PHASES];
    final AtomicIntegerArray completed = new AtomicIntegerArray(ChunkJob.MAX_PHASES);
    final AtomicBoolean early = new AtomicBoolean();

    Recorder(int[] counts) {
      this.counts = counts;
      for (int k = 0; k < counts.length; k++) runs[k] = new AtomicIntegerArray(Math.max(1, counts[k]));
    }

    @Override
    public void run(int phase, int index) {
      if (phase > 0 && completed.get(phase - 1) != counts[phase - 1]) early.set(true);
      runs[phase].incrementAndGet(index);
      long until = System.nanoTime() + 20_000; // 20 µs of work, so that participants overlap and a missing barrier shows
      while (System.nanoTime() < until) Thread.onSpinWait();
      completed.incrementAndGet(phase);
    }

    void check(int phases, String what) {
      assertFalse(early.get(), what + ": an index started before the previous phase completed");
      for (int k = 0; k < phases; k++) {
        for (int i = 0; i < counts[k]; i++) assertEquals(1, runs[k].get(i), what + ", phase " + k + ", index " + i);
      }
    }
  }

  @Test
  void phasedLoopsRunEveryIndexOnceAndPhasesInOrderOnASpinPool() {
    SplittableRandom random = new SplittableRandom(9);
    for (int workers : new int[] {0, 1, 2, 5}) {
      try (SpinPool pool = new SpinPool(workers, "chunk-job-phases-test")) {
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
          for (int repeat = 0; repeat < 300; repeat++) {
            int phases = 1 + repeat % ChunkJob.MAX_PHASES;
            int[] counts = new int[ChunkJob.MAX_PHASES];
            for (int k = 0; k < phases; k++) counts[k] = random.nextInt(10);
            Recorder r = new Recorder(counts);
            ExecutorLoop.run(r, counts, phases, false, pool, null);
            r.check(phases, workers + " workers, counts " + java.util.Arrays.toString(counts));
          }
        });
      }
    }
  }

  @Test
  void phasedLoopsOnAnExecutorAndAFailureStopsLaterPhases() throws Exception {
    ExecutorService executor = Executors.newFixedThreadPool(2);
    try {
      ExecutorLoop loop = new ExecutorLoop(executor, 3);
      assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
        for (int repeat = 0; repeat < 100; repeat++) {
          int[] counts = {1 + repeat % 7, repeat % 3, 5};
          Recorder r = new Recorder(counts);
          ExecutorLoop.run(r, counts, 3, false, null, loop);
          r.check(3, "executor, repeat " + repeat);
        }
        IllegalStateException boom = new IllegalStateException("boom");
        AtomicIntegerArray later = new AtomicIntegerArray(1);
        ChunkJob.Phases failing = (phase, index) -> {
          if (phase == 0 && index == 3) throw boom;
          if (phase == 1) later.incrementAndGet(0);
        };
        for (int repeat = 0; repeat < 50; repeat++) {
          assertSame(boom, assertThrows(IllegalStateException.class, () -> ExecutorLoop.run(failing, new int[] {8, 4}, 2, false, null, loop)));
          try (SpinPool pool = new SpinPool(2, "chunk-job-phases-test")) {
            assertSame(boom, assertThrows(IllegalStateException.class, () -> ExecutorLoop.run(failing, new int[] {8, 4}, 2, false, pool, null)));
          }
        }
        assertEquals(0, later.get(0), "a phase after a failed one ran");
      });
    } finally {
      executor.shutdownNow();
    }
  }
}
