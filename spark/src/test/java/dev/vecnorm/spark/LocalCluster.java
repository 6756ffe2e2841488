package dev.vecnorm.spark;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Function1;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag$;

/**
 * One {@code local-cluster[2,1,1024]} for every test of the module: a Spark master and two workers in this
 * JVM, each worker running one executor in its own JVM. Starting the executors takes 10-30 s on a loaded
 * machine, so it is done once per test JVM and stopped at exit.
 */
final class LocalCluster {
  static final int EXECUTORS = 2;
  private static JavaSparkContext context;

  private LocalCluster() {}

  static synchronized JavaSparkContext context() throws IOException, InterruptedException {
    if (context != null) return context;
    String home = System.getenv("SPARK_HOME");
    if (home == null) throw new IllegalStateException("SPARK_HOME is not set: run these tests through Maven (spark/pom.xml sets it)");
    Files.createDirectories(Path.of(home, "jars"));
    SparkConf conf = new SparkConf().setMaster("local-cluster[" + EXECUTORS + ",1,1024]").setAppName("vecnorm-spark-tests")
        .set("spark.executor.extraClassPath", System.getProperty("java.class.path"))
        .set("spark.executor.extraJavaOptions", "--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow")
        .set("spark.ui.enabled", "false")
        // A barrier stage waits for all its slots; check every second instead of every 15 s while executors start.
        .set("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "1s")
        .set("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures", "180");
    context = new JavaSparkContext(conf);
    context.setLogLevel("ERROR");
    long deadline = System.nanoTime() + 180_000_000_000L;
    while (context.sc().getExecutorIds().size() < EXECUTORS && System.nanoTime() < deadline) Thread.sleep(200);
    Runtime.getRuntime().addShutdownHook(new Thread(context::stop));
    return context;
  }

  /** The body of one replica in a barrier stage. */
  @FunctionalInterface
  interface Replica<T> extends Serializable {
    T run(BarrierTaskContext context) throws Exception;
  }

  /** Runs {@code body} once per replica in one barrier stage of {@code replicas} tasks; results by partition. */
  @SuppressWarnings("unchecked")
  static <T extends Serializable> List<T> onReplicas(int replicas, Replica<T> body) throws Exception {
    List<Integer> ids = new ArrayList<>();
    for (int i = 0; i < replicas; i++) ids.add(i);
    Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<Object>> f =
        (Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<Object>> & Serializable) it -> {
          try {
            return CollectionConverters.asScala(List.<Object>of(body.run(BarrierTaskContext.get())).iterator());
          } catch (Exception e) {
            throw new RuntimeException(e);
          }
        };
    Object[] out = (Object[]) context().parallelize(ids, replicas).rdd().barrier().mapPartitions(f, false, ClassTag$.MODULE$.apply(Object.class)).collect();
    List<T> results = new ArrayList<>();
    for (Object o : out) results.add((T) o);
    return results;
  }
}
