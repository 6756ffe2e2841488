package dev.vecnorm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.InProcessStatisticsReducer;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.Parameter;
import dev.vecnorm.layers.StatisticsReducer;
import dev.vecnorm.layers.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link Model#trainOnBatch(Tensor, Tensor, double, GradientReducer, float[][])}, the hook data-parallel
 * training uses: replicas on threads, each with its slice of every global batch, synchronized BN and a
 * gradient sum, must follow single-machine fit on the global batches.
 */
class DataParallelStepTest {

  static Sequential model(StatisticsReducer reducer) {
    BatchNormalization.Builder bn = BatchNormalization.builder().momentum(0.9).name("bn");
    if (reducer != null) bn.synchronizedWith(reducer);
    return new Sequential(new Dense(16, false, Initializer.glorotUniform(1), Initializer.zeros(), null, "d1"),
        bn.build(), Activation.tanh(), new Dense(3, true, Initializer.glorotUniform(2), Initializer.zeros(), null, "d2"));
  }

  /** Sums gradients of replicas on threads, in replica order, like a real all-reduce would. */
  static final class ThreadSum {
    final CyclicBarrier barrier;
    final List<List<float[]>> slots = new ArrayList<>();

    ThreadSum(int replicas) {
      barrier = new CyclicBarrier(replicas);
      for (int r = 0; r < replicas; r++) slots.add(null);
    }

    GradientReducer replica(int rank) {
      return params -> {
        try {
          List<float[]> mine = new ArrayList<>();
          for (Parameter p : params) mine.add(p.grad().clone());
          slots.set(rank, mine);
          barrier.await();
          for (int i = 0; i < params.size(); i++) {
            float[] g = params.get(i).grad();
            java.util.Arrays.fill(g, 0);
            for (List<float[]> s : slots) for (int j = 0; j < g.length; j++) g[j] += s.get(i)[j];
          }
          barrier.await();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      };
    }
  }

  /**
   * Two replicas, 6 steps of SGD with momentum on global batches of 32: every weight and moving statistic of
   * both replicas within 2e-5 of single-machine fit (the statistics are merged and the gradients summed in a
   * different order; nothing else differs), and the two replicas bitwise identical.
   */
  @Test
  @Timeout(60)
  void replicasFollowSingleMachineFitOnTheGlobalBatches() throws Exception {
    int replicas = 2, global = 32, steps = 6, local = global / replicas;
    Tensor[] data = SequentialTest.blobs(global * steps, 5);
    Sequential single = model(null);
    single.compile(Optimizer.sgd(0.1, 0.9, false), Loss.sparseCategoricalCrossentropy(true), List.of());
    single.fit(data[0], data[1], FitOptions.defaults().batchSize(global).shuffle(false).verbose(0));

    InProcessStatisticsReducer bn = new InProcessStatisticsReducer(replicas, 30);
    ThreadSum sum = new ThreadSum(replicas);
    ExecutorService pool = Executors.newFixedThreadPool(replicas);
    try {
      List<Future<Sequential>> done = new ArrayList<>();
      for (int r = 0; r < replicas; r++) {
        int rank = r;
        done.add(pool.submit(() -> {
          Sequential m = model(bn.replica(rank));
          m.compile(Optimizer.sgd(0.1, 0.9, false), Loss.sparseCategoricalCrossentropy(true), List.of());
          for (int s = 0; s < steps; s++) {
            int from = s * global + rank * local;
            m.trainOnBatch(Model.rows(data[0], from, from + local), Model.rows(data[1], from, from + local), (double) local / global,
                sum.replica(rank), null);
          }
          return m;
        }));
      }
      List<List<float[]>> expected = single.getWeights(), first = done.get(0).get().getWeights();
      for (Future<Sequential> f : done) {
        List<List<float[]>> got = f.get().getWeights();
        for (int l = 0; l < expected.size(); l++) {
          for (int w = 0; w < expected.get(l).size(); w++) {
            assertArrayEquals(expected.get(l).get(w), got.get(l).get(w), 2e-5f, "layer " + l + " weight " + w);
            assertArrayEquals(first.get(l).get(w), got.get(l).get(w), "replicas differ at layer " + l + " weight " + w);
          }
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void badLossWeightIsRejectedBeforeAnythingRuns() {
    Tensor[] data = SequentialTest.blobs(8, 1);
    Sequential m = model(null);
    m.compile(Optimizer.sgd(0.1), Loss.sparseCategoricalCrossentropy(true), List.of());
    m.build(8, 2);
    List<List<float[]>> before = m.getWeights();
    for (double w : new double[] {0, -0.5, 1.5, Double.NaN}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.trainOnBatch(data[0], data[1], w, p -> {}, null));
      assertEquals("lossWeight must be in (0, 1], got " + w, e.getMessage());
    }
    assertThrows(NullPointerException.class, () -> m.trainOnBatch(data[0], data[1], 1, null, null));
    List<List<float[]>> after = m.getWeights();
    for (int l = 0; l < before.size(); l++) for (int w = 0; w < before.get(l).size(); w++) assertArrayEquals(before.get(l).get(w), after.get(l).get(w));
  }
}
