package dev.vecnorm.spark;

import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Parameter;
import dev.vecnorm.layers.Tensor;
import dev.vecnorm.model.GradientReducer;
import dev.vecnorm.model.History;
import dev.vecnorm.model.Model;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaRDD;
import scala.Function1;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag$;

/**
 * Synchronous data-parallel {@code fit} on Spark: one replica of the model per partition, in one barrier
 * stage (Spark starts all replicas together or none), talking over a {@link RingCollective}.
 *
 * <p>Each step every replica runs forward and backward on its part of the global batch, the gradients are
 * summed over the replicas in one ring all-reduce, and every replica takes the same optimizer step, so the
 * replicas stay identical. A {@code BatchNormalization} whose config says {@code synchronized} gets a
 * {@link RingStatisticsReducer}: its statistics are those of the global batch (two rounds per layer and
 * step); other BN layers normalize with their replica's part, as Keras's MirroredStrategy does, and their
 * moving statistics are averaged over the replicas at the end. Rank 0's weights are broadcast before the
 * first step, so the replicas start identical whatever the initializers' seeds.
 *
 * <p>Batches: with {@code N} rows over all replicas and a global batch of {@code B}, an epoch has
 * {@code S = ceil(N / B)} steps, and replica {@code r}, holding {@code n_r} rows, takes rows
 * {@code [t n_r / S, (t + 1) n_r / S)} of its shard (shuffled within the shard each epoch when
 * {@code shuffle}) at step {@code t}. When every shard holds the same multiple of {@code B / R} rows and
 * shuffling is off, the global batch of step {@code t} is rows {@code [t B/R, (t+1) B/R)} of every shard
 * in rank order, and the trained model equals single-machine {@code fit} on those global batches up to
 * float rounding (tested). Every replica needs at least {@code S} rows.
 *
 * <p>This is data parallelism for models that fit one machine's memory: every replica holds the whole model.
 * It is not model parallelism.
 */
public final class DataParallel {
  private DataParallel() {}

  /**
   * Builds and compiles the model on every replica (and once on the driver, for the result). It must build
   * the same architecture every time; the weights are rank 0's anyway. Serializable: it is shipped to the executors.
   */
  @FunctionalInterface
  public interface ModelFactory extends Serializable {
    /**
     * A new compiled model.
     *
     * @return the model, compiled
     */
    Model create();
  }

  /** What {@link #fit} returns: the trained model (rank 0's, equal to every replica's), its History, and where the time went. */
  public record Trained(Model model, History history, int steps, double secondsPerStep, double collectiveSecondsPerStep, double roundsPerStep) {}

  /** Arguments of {@link #fit}; defaults as Keras's fit: batch 32, 1 epoch, shuffled, seed 0; 60 s timeout. */
  public static final class Options implements Serializable {
    private static final long serialVersionUID = 1L;
    int replicas, batchSize = 32, epochs = 1;
    boolean shuffle = true;
    long seed;
    Duration timeout = Duration.ofSeconds(60);
    int[] sampleShape;

    /** The defaults. */
    public Options() {}

    /**
     * Replicas, one per Spark task slot; the data is repartitioned when it has another partition count.
     *
     * @param replicas at least 1; default: the data's partition count
     * @return this
     */
    public Options replicas(int replicas) {
      if (replicas < 1) throw new IllegalArgumentException("replicas must be >= 1, got " + replicas);
      this.replicas = replicas;
      return this;
    }

    /**
     * The global batch: samples per optimizer step over all replicas together.
     *
     * @param batchSize at least 1; default 32
     * @return this
     */
    public Options batchSize(int batchSize) {
      if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
      this.batchSize = batchSize;
      return this;
    }

    /**
     * Passes over the data.
     *
     * @param epochs at least 1; default 1
     * @return this
     */
    public Options epochs(int epochs) {
      if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
      this.epochs = epochs;
      return this;
    }

    /**
     * Whether each replica shuffles its shard before each epoch.
     *
     * @param shuffle default true
     * @return this
     */
    public Options shuffle(boolean shuffle) {
      this.shuffle = shuffle;
      return this;
    }

    /**
     * Seed of the shuffling (each replica mixes in its rank).
     *
     * @param seed any value; default 0
     * @return this
     */
    public Options seed(long seed) {
      this.seed = seed;
      return this;
    }

    /**
     * How long a replica waits without progress for the others before the stage fails.
     *
     * @param timeout positive; default 60 s
     * @return this
     */
    public Options timeout(Duration timeout) {
      if (timeout == null || timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("timeout must be positive, got " + timeout);
      this.timeout = timeout;
      return this;
    }

    /**
     * Shape of one sample, without the batch dimension (for a model whose input is not flat).
     *
     * @param shape the sample shape; its product must be each row's feature count; default {@code [features]}
     * @return this
     */
    public Options sampleShape(int... shape) {
      for (int d : shape) if (d < 1) throw new IllegalArgumentException("sampleShape must be positive, got " + Arrays.toString(shape));
      this.sampleShape = shape.clone();
      return this;
    }
  }

  /** What rank 0 sends back to the driver. */
  record ReplicaResult(int[] buildShape, List<List<float[]>> weights, Map<String, List<Double>> history, int steps, long trainNanos,
                       long collectiveNanos, long rounds) implements Serializable {}

  /**
   * Trains on {@code data} with one replica per partition (or per {@link Options#replicas}) in one barrier
   * stage. A replica that throws, dies or stalls fails the stage within the timeout; the exception names the
   * rank, the operation and the round.
   *
   * @param data the training rows; not null
   * @param factory builds the compiled model on every replica; not null, serializable
   * @param options batch, epochs, shuffling, timeout; not null
   * @return the trained model (on the driver), its History, and the time per step measured on rank 0
   */
  public static Trained fit(JavaRDD<Sample> data, ModelFactory factory, Options options) {
    Objects.requireNonNull(data, "data");
    Objects.requireNonNull(factory, "factory");
    Objects.requireNonNull(options, "options");
    int replicas = options.replicas > 0 ? options.replicas : data.getNumPartitions();
    // Barrier stages refuse coalesce, so another partition count means a shuffle.
    JavaRDD<Sample> shards = data.getNumPartitions() == replicas ? data : data.repartition(replicas);
    Function1<scala.collection.Iterator<Sample>, scala.collection.Iterator<ReplicaResult>> replica =
        (Function1<scala.collection.Iterator<Sample>, scala.collection.Iterator<ReplicaResult>> & Serializable) rows -> {
          BarrierTaskContext context = BarrierTaskContext.get();
          List<Sample> shard = new ArrayList<>();
          rows.foreach(shard::add);
          RingCollective ring = RingCollective.join(context, options.timeout);
          ReplicaResult result = train(ring, shard, factory, options);
          return CollectionConverters.asScala(result == null ? List.<ReplicaResult>of().iterator() : List.of(result).iterator());
        };
    Object collected = shards.rdd().barrier().mapPartitions(replica, false, ClassTag$.MODULE$.apply(ReplicaResult.class)).collect();
    ReplicaResult r0 = ((ReplicaResult[]) collected)[0];
    Model model = factory.create();
    if (model.inputShape() == null) model.build(r0.buildShape);
    model.setWeights(r0.weights);
    History history = new History();
    int epochs = r0.history.isEmpty() ? 0 : r0.history.values().iterator().next().size();
    for (int e = 0; e < epochs; e++) {
      Map<String, Double> logs = new LinkedHashMap<>();
      for (var entry : r0.history.entrySet()) logs.put(entry.getKey(), entry.getValue().get(e));
      history.record(logs);
    }
    long steps = (long) r0.steps * Math.max(1, epochs);
    return new Trained(model, history, r0.steps, r0.trainNanos / 1e9 / steps, r0.collectiveNanos / 1e9 / steps, (double) r0.rounds / steps);
  }

  private static int[] inputShape(int[] sampleShape, int features) {
    int[] sample = sampleShape != null ? sampleShape : new int[] {features};
    int[] shape = new int[sample.length + 1];
    shape[0] = 1;
    System.arraycopy(sample, 0, shape, 1, sample.length);
    return shape;
  }

  /**
   * One replica's whole training, on any ring (a barrier task's, or threads' in tests). Returns rank 0's
   * result, null elsewhere.
   */
  static ReplicaResult train(RingCollective ring, List<Sample> shard, ModelFactory factory, Options options) {
    int rank = ring.rank(), size = ring.size();
    Model model = factory.create();
    RingStatisticsReducer statistics = new RingStatisticsReducer(ring);
    for (Layer l : model.layers()) {
      if (l instanceof BatchNormalization bn && Boolean.TRUE.equals(bn.getConfig().get("synchronized"))) bn.setStatisticsReducer(statistics);
    }
    long[] rows = gatherLongs(ring, shard.size());
    long total = 0;
    for (long n : rows) total += n;
    int steps = (int) ((total + options.batchSize - 1) / options.batchSize);
    for (int r = 0; r < size; r++) {
      if (rows[r] < steps) {
        throw new IllegalArgumentException("replica " + r + " holds " + rows[r] + " rows, fewer than the " + steps + " steps of an epoch ("
            + total + " rows in batches of " + options.batchSize + "): give every replica at least " + steps + " rows");
      }
    }
    int features = shard.get(0).x().length, targets = shard.get(0).y().length, n = shard.size();
    float[] x = new float[Math.multiplyExact(n, features)], y = new float[n * targets];
    for (int i = 0; i < n; i++) {
      Sample s = shard.get(i);
      if (s.x().length != features || s.y().length != targets) {
        throw new IllegalArgumentException("row " + i + " of replica " + rank + " has " + s.x().length + " features and " + s.y().length
            + " targets, row 0 has " + features + " and " + targets);
      }
      System.arraycopy(s.x(), 0, x, i * features, features);
      System.arraycopy(s.y(), 0, y, i * targets, targets);
    }
    int[] xShape = inputShape(options.sampleShape, features);
    if (model.inputShape() == null) model.build(xShape);
    // Identical start: everyone takes rank 0's weights (and moving statistics).
    List<List<float[]>> initial = model.getWeights();
    model.setWeights(unflatten(fromBytes(ring.broadcast(0, rank == 0 ? toBytes(flatten(initial)) : null)), initial));

    GradientReducer sum = params -> {
      List<List<float[]>> grads = new ArrayList<>(List.of(new ArrayList<>()));
      for (Parameter p : params) grads.get(0).add(p.grad());
      float[] flat = flatten(grads);
      ring.allReduceSum(flat); // one round for every parameter of the model
      int at = 0;
      for (Parameter p : params) {
        System.arraycopy(flat, at, p.grad(), 0, p.grad().length);
        at += p.grad().length;
      }
    };
    boolean accuracy = !model.metrics().isEmpty();
    SplittableRandom random = new SplittableRandom(options.seed ^ (0x9E3779B97F4A7C15L * (rank + 1)));
    int[] order = new int[n];
    for (int i = 0; i < n; i++) order[i] = i;
    int[] batchShape = xShape.clone();
    Map<String, List<Double>> history = new LinkedHashMap<>();
    long roundsBefore = ring.rounds(), busyBefore = ring.busyNanos(), start = System.nanoTime();
    for (int epoch = 0; epoch < options.epochs; epoch++) {
      if (options.shuffle) {
        for (int i = n - 1; i > 0; i--) {
          int j = random.nextInt(i + 1), t = order[i];
          order[i] = order[j];
          order[j] = t;
        }
      }
      double lossSum = 0, correct = 0;
      for (int t = 0; t < steps; t++) {
        int from = (int) ((long) t * n / steps), to = (int) ((long) (t + 1) * n / steps);
        long global = 0;
        for (long rr : rows) global += (t + 1) * rr / steps - t * rr / steps;
        batchShape[0] = to - from;
        float[] bx = new float[(to - from) * features], by = new float[(to - from) * targets];
        for (int i = from; i < to; i++) {
          System.arraycopy(x, order[i] * features, bx, (i - from) * features, features);
          System.arraycopy(y, order[i] * targets, by, (i - from) * targets, targets);
        }
        float[][] predictions = new float[1][];
        double loss = model.trainOnBatch(new Tensor(batchShape, bx), new Tensor(new int[] {to - from, targets}, by),
            (double) (to - from) / global, sum, accuracy ? predictions : null);
        lossSum += loss * (to - from);
        if (accuracy) correct += argmaxHits(predictions[0], by, to - from);
      }
      // Epoch logs as fit logs them: sample-weighted over the whole data, summed in rank order.
      byte[][] parts = ring.allGather(ByteBuffer.allocate(2 * Double.BYTES).putDouble(0, lossSum).putDouble(8, correct).array());
      double lossTotal = 0, correctTotal = 0;
      for (byte[] part : parts) {
        lossTotal += ByteBuffer.wrap(part).getDouble(0);
        correctTotal += ByteBuffer.wrap(part).getDouble(8);
      }
      history.computeIfAbsent("loss", k -> new ArrayList<>()).add(lossTotal / total);
      for (String m : model.metrics()) history.computeIfAbsent(m, k -> new ArrayList<>()).add(correctTotal / total);
    }
    long trainNanos = System.nanoTime() - start, collectiveNanos = ring.busyNanos() - busyBefore, rounds = ring.rounds() - roundsBefore;
    averageNonTrainable(ring, model);
    requireIdenticalReplicas(ring, model);
    return rank == 0 ? new ReplicaResult(xShape, model.getWeights(), history, steps, trainNanos, collectiveNanos, rounds) : null;
  }

  /**
   * The promise of the whole scheme, checked for one small round: every replica ends with the same bits
   * (a CRC-32 of all weights and moving statistics). Replicas that differ mean a nondeterministic model
   * (say, Dropout seeded per replica) or a bug; the stage fails rather than return one replica's model as everyone's.
   */
  private static void requireIdenticalReplicas(RingCollective ring, Model model) {
    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    crc.update(toBytes(flatten(model.getWeights())));
    long[] all = gatherLongs(ring, crc.getValue());
    for (int r = 1; r < all.length; r++) {
      if (all[r] != all[0]) throw new IllegalStateException("replica " + r + " ended with other weights than replica 0 (CRC-32 " + all[r] + " vs " + all[0] + ")");
    }
  }

  /** Class-index targets: how many rows' argmax is their target (fit's accuracy). */
  private static int argmaxHits(float[] predictions, float[] targets, int rows) {
    int classes = predictions.length / rows, hits = 0;
    for (int i = 0; i < rows; i++) {
      int best = 0;
      for (int j = 1; j < classes; j++) if (predictions[i * classes + j] > predictions[i * classes + best]) best = j;
      if (best == (int) targets[i]) hits++;
    }
    return hits;
  }

  /**
   * Moving statistics of per-replica BN layers differ between replicas: average them (in double, in rank
   * order), as MirroredStrategy reads them. Synchronized layers' are equal everywhere and stay so:
   * the mean of R equal floats computed in double is that float.
   */
  private static void averageNonTrainable(RingCollective ring, Model model) {
    List<Parameter> state = new ArrayList<>();
    for (Layer l : model.layers()) for (Parameter p : l.parameters()) if (!p.trainable()) state.add(p);
    if (state.isEmpty() || ring.size() == 1) return;
    List<List<float[]>> values = new ArrayList<>(List.of(new ArrayList<>()));
    for (Parameter p : state) values.get(0).add(p.value());
    byte[][] all = ring.allGather(toBytes(flatten(values)));
    double[] mean = new double[all[0].length / Float.BYTES];
    for (byte[] part : all) {
      float[] f = fromBytes(part);
      for (int i = 0; i < mean.length; i++) mean[i] += f[i];
    }
    int at = 0;
    for (Parameter p : state) {
      float[] v = p.value();
      for (int i = 0; i < v.length; i++) v[i] = (float) (mean[at++] / all.length);
    }
  }

  private static long[] gatherLongs(RingCollective ring, long value) {
    byte[][] all = ring.allGather(ByteBuffer.allocate(Long.BYTES).putLong(0, value).array());
    long[] out = new long[all.length];
    for (int r = 0; r < all.length; r++) out[r] = ByteBuffer.wrap(all[r]).getLong(0);
    return out;
  }

  private static float[] flatten(List<List<float[]>> weights) {
    int total = 0;
    for (List<float[]> layer : weights) for (float[] w : layer) total += w.length;
    float[] flat = new float[total];
    int at = 0;
    for (List<float[]> layer : weights) {
      for (float[] w : layer) {
        System.arraycopy(w, 0, flat, at, w.length);
        at += w.length;
      }
    }
    return flat;
  }

  private static List<List<float[]>> unflatten(float[] flat, List<List<float[]>> like) {
    List<List<float[]>> out = new ArrayList<>();
    int at = 0;
    for (List<float[]> layer : like) {
      List<float[]> l = new ArrayList<>();
      for (float[] w : layer) {
        l.add(Arrays.copyOfRange(flat, at, at + w.length));
        at += w.length;
      }
      out.add(l);
    }
    return out;
  }

  private static byte[] toBytes(float[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(values);
    return b.array();
  }

  private static float[] fromBytes(byte[] bytes) {
    float[] values = new float[bytes.length / Float.BYTES];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
    return values;
  }
}
