package dev.vecnorm.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The ring on threads of one JVM, over real loopback sockets (the Spark tests run it across executor JVMs):
 * results against a double-precision reference, the same bits on every rank, and failures that surface
 * within the timeout.
 */
@Timeout(60)
class RingCollectiveTest {
  private final ExecutorService pool = Executors.newCachedThreadPool();

  @AfterEach
  void stop() {
    pool.shutdownNow();
  }

  /** An address exchange standing in for BarrierTaskContext.allGather. */
  static final class Exchange {
    final String[] addresses;
    final CyclicBarrier barrier;

    Exchange(int size) {
      addresses = new String[size];
      barrier = new CyclicBarrier(size);
    }

    RingCollective join(int rank, Duration timeout) {
      return RingCollective.join(rank, addresses.length, "127.0.0.1", timeout, () -> {}, mine -> {
        addresses[rank] = mine;
        try {
          barrier.await(20, TimeUnit.SECONDS);
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
        return addresses.clone();
      });
    }
  }

  /** Runs {@code body} on {@code size} ranks of one ring; returns each rank's result, by rank. */
  <T> List<T> onRing(int size, Duration timeout, java.util.function.BiFunction<RingCollective, Integer, T> body) throws Exception {
    Exchange exchange = new Exchange(size);
    List<Future<T>> futures = new ArrayList<>();
    for (int r = 0; r < size; r++) {
      int rank = r;
      futures.add(pool.submit(() -> {
        try (RingCollective ring = exchange.join(rank, timeout)) {
          return body.apply(ring, rank);
        }
      }));
    }
    List<T> out = new ArrayList<>();
    for (Future<T> f : futures) out.add(f.get(30, TimeUnit.SECONDS));
    return out;
  }

  static float[] values(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble(-1, 1) * Math.pow(2, r.nextInt(-8, 8)));
    return v;
  }

  /**
   * Lengths not divisible by the rank count (chunks of unequal size, empty chunks) and one large enough to fill the
   * socket buffers: the sum is within float rounding of the double sum, and every rank holds the same bits.
   */
  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 4})
  void allReduceSumsWithinRoundingAndIsBitwiseEqualEverywhere(int size) throws Exception {
    for (int n : new int[] {0, 1, 2, 5, 17, 1023, 300_001}) {
      float[][] input = new float[size][];
      for (int r = 0; r < size; r++) input[r] = values(n, 100 + r);
      List<float[]> results = onRing(size, Duration.ofSeconds(10), (ring, rank) -> {
        float[] data = input[rank].clone();
        ring.allReduceSum(data);
        assertEquals(1, ring.rounds(), "one call, one round");
        return data;
      });
      for (int i = 0; i < n; i++) {
        double sum = 0, abs = 0;
        for (int r = 0; r < size; r++) {
          sum += input[r][i];
          abs += Math.abs(input[r][i]);
        }
        assertEquals(sum, results.get(0)[i], abs * 0x1p-23 * size, "element " + i + " of " + n);
        if (i > 64) i += n / 64; // a sample of the large case is enough
      }
      for (int r = 1; r < size; r++) assertArrayEquals(results.get(0), results.get(r), "rank " + r + " differs from rank 0, n=" + n);
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 5})
  void allGatherReturnsEveryContributionByRankAndBroadcastReturnsTheRoots(int size) throws Exception {
    List<byte[][]> gathered = onRing(size, Duration.ofSeconds(10), (ring, rank) -> {
      byte[] mine = new byte[rank * 3]; // rank 0 contributes nothing: empty blocks must travel too
      java.util.Arrays.fill(mine, (byte) (rank + 1));
      byte[][] all = ring.allGather(mine);
      byte[] root = ring.broadcast(size - 1, rank == size - 1 ? new byte[] {42, 7} : null);
      assertArrayEquals(new byte[] {42, 7}, root);
      return all;
    });
    for (byte[][] all : gathered) {
      assertEquals(size, all.length);
      for (int r = 0; r < size; r++) {
        byte[] expected = new byte[r * 3];
        java.util.Arrays.fill(expected, (byte) (r + 1));
        assertArrayEquals(expected, all[r], "block of rank " + r);
      }
    }
  }

  /** Rank 2 of 3 never calls: ranks 0 and 1 fail within the 1 s timeout (plus scheduling), naming the round. */
  @Test
  void aStalledRankMakesTheOthersFailWithinTheTimeout() throws Exception {
    Exchange exchange = new Exchange(3);
    List<Future<?>> waiting = new ArrayList<>();
    CyclicBarrier joined = new CyclicBarrier(3);
    long t0 = System.nanoTime();
    for (int r = 0; r < 3; r++) {
      int rank = r;
      waiting.add(pool.submit(() -> {
        try (RingCollective ring = exchange.join(rank, Duration.ofSeconds(1))) {
          joined.await();
          if (rank == 2) {
            Thread.sleep(8000); // stalls, holding its sockets open
            return null;
          }
          ring.allReduceSum(new float[100]);
          return null;
        }
      }));
    }
    for (int r = 0; r < 2; r++) {
      ExecutionException e = assertThrows(ExecutionException.class, waiting.get(r)::get);
      String message = e.getCause().getMessage();
      assertTrue(e.getCause() instanceof IllegalStateException, String.valueOf(e.getCause()));
      assertTrue(message.startsWith("rank " + r + " of 3, all-reduce round 1: "), message);
      assertTrue(message.contains("no progress for 1000 ms") || message.contains("closed the connection"), message);
    }
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(6), "took " + (System.nanoTime() - t0) / 1e9 + " s");
    waiting.get(2).cancel(true);
  }

  /** abort from another thread (Spark's task-failure listener) releases a rank blocked on a peer, and its neighbours. */
  @Test
  void abortReleasesEveryRankAtOnce() throws Exception {
    Exchange exchange = new Exchange(3);
    RingCollective[] rings = new RingCollective[3];
    CyclicBarrier joined = new CyclicBarrier(4);
    List<Future<?>> blocked = new ArrayList<>();
    for (int r = 0; r < 3; r++) {
      int rank = r;
      blocked.add(pool.submit(() -> {
        rings[rank] = exchange.join(rank, Duration.ofSeconds(30));
        joined.await();
        if (rank < 2) rings[rank].allGather(new byte[] {1}); // rank 2 never joins the round: 0 and 1 wait
        return null;
      }));
    }
    joined.await(10, TimeUnit.SECONDS);
    Thread.sleep(200);
    RuntimeException why = new RuntimeException("stage cancelled");
    long t0 = System.nanoTime();
    rings[2].abort(why);
    for (int r = 0; r < 2; r++) {
      int rank = r;
      ExecutionException e = assertThrows(ExecutionException.class, () -> blocked.get(rank).get(5, TimeUnit.SECONDS));
      assertTrue(e.getCause() instanceof IllegalStateException, String.valueOf(e.getCause()));
    }
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5));
    IllegalStateException later = assertThrows(IllegalStateException.class, () -> rings[2].allReduceSum(new float[1]));
    assertEquals(why, later.getCause());
    for (RingCollective ring : rings) ring.close();
  }
}
