package dev.vecnorm.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.io.Idx;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.InProcessStatisticsReducer;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.StatisticsReducer;
import dev.vecnorm.layers.Tensor;
import dev.vecnorm.model.FitOptions;
import dev.vecnorm.model.History;
import dev.vecnorm.model.Loss;
import dev.vecnorm.model.Optimizer;
import dev.vecnorm.model.Sequential;
import java.io.Serializable;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.SparkException;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * The acceptance tests on {@code local-cluster[2,1,1024]}: two executor JVMs, one replica each, the
 * ring between them over TCP. Equality with one replica on the whole batch, data-parallel fit against
 * single-machine fit, and failures that end the stage with a clear error instead of a hang.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(240) // a backstop: the first test also waits for the executors to start
class LocalClusterTest {

  record BnResult(float[] y, float[] dx, float[] dGamma, float[] dBeta, float[] movingMean, float[] movingVariance, long pid) implements Serializable {}

  static float[] random(int n, double mean, double scale, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) (mean + scale * r.nextGaussian());
    return v;
  }

  /** One replica of synchronized BN: forward and backward on its rows of [rows, channels]. */
  static BnResult bnReplica(StatisticsReducer reducer, float[] x, float[] dy, int rows, int channels, int rank) {
    BatchNormalization bn = BatchNormalization.builder().momentum(0.9).synchronizedWith(reducer).build();
    int from = rank * rows * channels, to = from + rows * channels;
    int[] shape = {rows, channels};
    Tensor y = bn.call(new Tensor(shape, Arrays.copyOfRange(x, from, to)), true);
    Tensor dx = bn.backward(new Tensor(shape, Arrays.copyOfRange(dy, from, to)));
    return new BnResult(y.data(), dx.data(), bn.trainableParameters().get(0).grad().clone(), bn.trainableParameters().get(1).grad().clone(),
        bn.movingMean(), bn.movingVariance(), ProcessHandle.current().pid());
  }

  /**
   * Two executor JVMs, each with half the batch, against a double-precision reference of BN on the whole
   * batch: y and dx within 2e-5 (float rounding of values of order 1), the summed dGamma and dBeta within
   * 1e-4 (sums of 74 products), the moving statistics within 1e-6. And the same bits as the in-process
   * reducer with two threads: the ring changes the transport, not the arithmetic.
   */
  @Test
  @Order(1)
  void synchronizedBatchNormAcrossTwoExecutorJvmsEqualsTheWholeBatch() throws Exception {
    int rows = 37, channels = 13, m = 2 * rows;
    float[] x = random(m * channels, 3, 2, 1), dy = random(m * channels, 0, 1, 2);
    List<BnResult> ring = LocalCluster.onReplicas(2, context -> {
      try (RingCollective r = RingCollective.join(context, Duration.ofSeconds(20))) {
        return bnReplica(new RingStatisticsReducer(r), x, dy, rows, channels, r.rank());
      }
    });
    assertNotEquals(ring.get(0).pid(), ring.get(1).pid(), "the replicas must run in two JVMs");
    assertNotEquals(ProcessHandle.current().pid(), ring.get(0).pid(), "the replicas must run outside the driver");

    double eps = 1e-3; // Keras's default epsilon
    double[] mean = new double[channels], var = new double[channels], sumDy = new double[channels], sumDyXhat = new double[channels];
    for (int i = 0; i < m; i++) for (int c = 0; c < channels; c++) mean[c] += x[i * channels + c] / (double) m;
    for (int i = 0; i < m; i++) for (int c = 0; c < channels; c++) var[c] += Math.pow(x[i * channels + c] - mean[c], 2) / m;
    for (int i = 0; i < m; i++) {
      for (int c = 0; c < channels; c++) {
        double xhat = (x[i * channels + c] - mean[c]) / Math.sqrt(var[c] + eps);
        sumDy[c] += dy[i * channels + c];
        sumDyXhat[c] += dy[i * channels + c] * xhat;
      }
    }
    double[] dGamma = new double[channels], dBeta = new double[channels];
    for (int r = 0; r < 2; r++) {
      BnResult got = ring.get(r);
      for (int i = 0; i < rows; i++) {
        for (int c = 0; c < channels; c++) {
          int g = (r * rows + i) * channels + c, l = i * channels + c;
          double invStd = 1 / Math.sqrt(var[c] + eps), xhat = (x[g] - mean[c]) * invStd;
          double dx = invStd / m * (m * dy[g] - sumDy[c] - xhat * sumDyXhat[c]);
          assertEquals(xhat, got.y()[l], 2e-5, "y of replica " + r + " row " + i + " channel " + c);
          assertEquals(dx, got.dx()[l], 2e-5, "dx of replica " + r + " row " + i + " channel " + c);
        }
      }
      for (int c = 0; c < channels; c++) {
        dGamma[c] += got.dGamma()[c];
        dBeta[c] += got.dBeta()[c];
        assertEquals(0.1 * mean[c], got.movingMean()[c], 1e-6, "moving mean");
        assertEquals(0.9 + 0.1 * var[c], got.movingVariance()[c], 1e-5, "moving variance");
      }
    }
    for (int c = 0; c < channels; c++) {
      assertEquals(sumDyXhat[c], dGamma[c], 1e-4, "dGamma summed over replicas, channel " + c);
      assertEquals(sumDy[c], dBeta[c], 1e-4, "dBeta summed over replicas, channel " + c);
    }

    InProcessStatisticsReducer threads = new InProcessStatisticsReducer(2, 20);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<BnResult>> local = new ArrayList<>();
      for (int r = 0; r < 2; r++) {
        int rank = r;
        local.add(pool.submit(() -> bnReplica(threads.replica(rank), x, dy, rows, channels, rank)));
      }
      for (int r = 0; r < 2; r++) {
        BnResult a = local.get(r).get(), b = ring.get(r);
        assertArrayEquals(a.y(), b.y());
        assertArrayEquals(a.dx(), b.dx());
        assertArrayEquals(a.dGamma(), b.dGamma());
        assertArrayEquals(a.dBeta(), b.dBeta());
        assertArrayEquals(a.movingMean(), b.movingMean());
        assertArrayEquals(a.movingVariance(), b.movingVariance());
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** The first rows of the Fashion-MNIST test set the demo bundles, as [n, 784] in [0, 1] and labels. */
  static Tensor[] fashionMnist(int n) throws Exception {
    Path data = Path.of("../demo/src/main/resources/dev/vecnorm/demo/data");
    Idx.Data images = Idx.read(data.resolve("t10k-images-idx3-ubyte.gz")), labels = Idx.read(data.resolve("t10k-labels-idx1-ubyte.gz"));
    float[] x = new float[n * 784], y = new float[n];
    for (int i = 0; i < x.length; i++) x[i] = (images.values()[i] & 0xff) / 255f;
    for (int i = 0; i < n; i++) y[i] = labels.values()[i];
    return new Tensor[] {new Tensor(new int[] {n, 784}, x), new Tensor(new int[] {n}, y)};
  }

  /**
   * The example's model (the demo's MLP), 2 epochs of 4 steps, global batch 64, on 2 executor JVMs with synchronized BN, against single-machine
   * fit on the same global batches (replica 0's 32 rows, then replica 1's): every weight and moving
   * statistic within 1e-4 (float rounding through 8 steps of SGD; the summation order differs), the
   * History's loss within 1e-5 and accuracy equal.
   */
  @Test
  @Order(2)
  void dataParallelFitOfTheDemoMlpEqualsSingleMachineFit() throws Exception {
    int perReplica = 128, local = 32;
    Tensor[] data = fashionMnist(2 * perReplica);
    List<Sample> rows = new ArrayList<>();
    for (int i = 0; i < 2 * perReplica; i++) {
      rows.add(Sample.of(Arrays.copyOfRange(data[0].data(), i * 784, (i + 1) * 784), (int) data[1].data()[i]));
    }
    JavaRDD<Sample> rdd = LocalCluster.context().parallelize(rows, 2); // contiguous halves: rows 0-127, 128-255
    DataParallel.Trained trained = DataParallel.fit(rdd, () -> FashionMnistOnSpark.model(true),
        new DataParallel.Options().batchSize(2 * local).epochs(2).shuffle(false).timeout(Duration.ofSeconds(30)));

    // Single machine: global batch t is replica 0's rows [32t, 32t+32) then replica 1's.
    float[] x = new float[data[0].size()], y = new float[data[1].size()];
    int at = 0;
    for (int t = 0; t < perReplica / local; t++) {
      for (int r = 0; r < 2; r++) {
        for (int i = 0; i < local; i++, at++) {
          int source = r * perReplica + t * local + i;
          System.arraycopy(data[0].data(), source * 784, x, at * 784, 784);
          y[at] = data[1].data()[source];
        }
      }
    }
    Sequential single = FashionMnistOnSpark.model(false);
    History expected = single.fit(new Tensor(data[0].shape(), x), new Tensor(data[1].shape(), y),
        FitOptions.defaults().batchSize(2 * local).epochs(2).shuffle(false).verbose(0));

    assertEquals(4, trained.steps());
    List<List<float[]>> want = single.getWeights(), got = trained.model().getWeights();
    for (int l = 0; l < want.size(); l++) {
      for (int w = 0; w < want.get(l).size(); w++) {
        assertArrayEquals(want.get(l).get(w), got.get(l).get(w), 1e-4f, "layer " + single.layers().get(l).name() + " weight " + w);
      }
    }
    for (int e = 0; e < 2; e++) {
      assertEquals(expected.get("loss").get(e), trained.history().get("loss").get(e), 1e-5, "loss of epoch " + e);
      assertEquals(expected.get("accuracy").get(e), trained.history().get("accuracy").get(e), 1e-12, "accuracy of epoch " + e);
    }
    // 3 BN layers x 2 rounds, 1 gradient all-reduce (one round, header included) per step.
    assertTrue(trained.roundsPerStep() >= 7 && trained.roundsPerStep() < 8, "rounds per step " + trained.roundsPerStep());
  }

  static final String FAILURE = "replica 1 fails on purpose";

  /** A replica that throws: the stage fails within seconds, with its error or its neighbour's, and the other replica is released. */
  @Test
  @Order(3)
  void aReplicaThatThrowsFailsTheStageWithItsError() throws Exception {
    JavaRDD<Sample> rdd = tinyData();
    long t0 = System.nanoTime();
    SparkException e = assertThrows(SparkException.class, () -> DataParallel.fit(rdd, () -> {
      if (TaskContext.getPartitionId() == 1) throw new IllegalStateException(FAILURE);
      return tinyModel();
    }, new DataParallel.Options().batchSize(8).timeout(Duration.ofSeconds(30))));
    double seconds = (System.nanoTime() - t0) / 1e9;
    // Spark reports the first failure it hears of: the thrower's own error, or its neighbour's end-of-stream.
    String message = fullMessage(e);
    assertTrue(message.contains("java.lang.IllegalStateException: " + FAILURE)
        || message.contains("rank 0 of 2, all-gather round 1: rank 1 closed the connection"), message);
    assertTrue(seconds < 20, "the stage took " + seconds + " s to fail; the timeout is 30 s, so a peer's failure must not wait for it");
  }

  /** A replica that stalls: the other times out after 2 s of silence, and the stage fails naming the silent rank. */
  @Test
  @Order(4)
  void aStalledReplicaFailsTheStageWithinTheTimeout() throws Exception {
    JavaRDD<Sample> rdd = tinyData();
    long t0 = System.nanoTime();
    SparkException e = assertThrows(SparkException.class, () -> DataParallel.fit(rdd, () -> {
      TaskContext task = TaskContext.get();
      if (task.partitionId() == 1) {
        // Stalls for up to 30 s, but, as a real replica stuck in a ring call would, gives up when Spark kills the task.
        for (int i = 0; i < 600 && !task.isInterrupted(); i++) {
          try {
            Thread.sleep(50);
          } catch (InterruptedException stop) {
            break;
          }
        }
      }
      return tinyModel();
    }, new DataParallel.Options().batchSize(8).timeout(Duration.ofSeconds(2))));
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertTrue(fullMessage(e).contains("no progress for 2000 ms waiting for rank 1"), fullMessage(e));
    assertTrue(seconds < 20, "the stage took " + seconds + " s to fail with a 2 s timeout");
  }

  /** A replica whose JVM dies (the executor process halts): the other reads end-of-stream, and the stage fails. */
  @Test
  @Order(5) // last: the cluster relaunches the executor, which takes a while
  void aReplicaWhoseJvmDiesFailsTheStage() throws Exception {
    JavaRDD<Sample> rdd = tinyData();
    long t0 = System.nanoTime();
    SparkException e = assertThrows(SparkException.class, () -> DataParallel.fit(rdd, () -> {
      if (TaskContext.getPartitionId() == 1) Runtime.getRuntime().halt(3);
      return tinyModel();
    }, new DataParallel.Options().batchSize(8).timeout(Duration.ofSeconds(30))));
    double seconds = (System.nanoTime() - t0) / 1e9;
    String message = fullMessage(e);
    // Whichever Spark hears of first: the executor's exit, or the surviving replica's end-of-stream.
    assertTrue(message.contains("ExecutorLostFailure") || message.contains("rank 1 closed the connection"), message);
    assertTrue(seconds < 25, "the stage took " + seconds + " s to fail");
  }

  static Sequential tinyModel() {
    Sequential m = new Sequential(new Dense(4, false, Initializer.glorotUniform(1), Initializer.zeros(), null, "d"),
        BatchNormalization.builder().isSynchronized(true).name("bn").build(), new Dense(2, true, Initializer.glorotUniform(2), Initializer.zeros(), null, "out"));
    m.compile(Optimizer.sgd(0.1), Loss.sparseCategoricalCrossentropy(true), List.of());
    return m;
  }

  static JavaRDD<Sample> tinyData() throws Exception {
    List<Sample> rows = new ArrayList<>();
    for (int i = 0; i < 16; i++) rows.add(Sample.of(new float[] {i, -i, 1}, i % 2));
    return LocalCluster.context().parallelize(rows, 2);
  }

  static String fullMessage(Throwable e) {
    StringBuilder sb = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause()) sb.append(t).append('\n');
    return sb.toString();
  }
}
