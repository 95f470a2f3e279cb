"""The CPU benchmark: rows, the precision OpenVINO used, and same-run ratios."""


from vtn_jax.export import benchmark


def test_benchmark_reports_rows_precision_and_ratios(rgb):
    _, _, _, out, _ = rgb
    result = benchmark.benchmark(out, threads=1, seconds=0.1, rounds=2, hints=('LATENCY',),
                                  variants=('f32', 'int8'), parts=('encoder', 'decoder'))
    assert {(r['model'], r['variant']) for r in result['rows']} == {
        ('encoder', 'f32'), ('encoder', 'int8'), ('decoder', 'f32'), ('decoder', 'int8')}
    assert all(r['fps'] > 0 and r['p10_ms'] <= r['median_ms'] <= r['p90_ms'] for r in result['rows'])
    assert all(len(r['fps_rounds']) == 2 for r in result['rows'])
    assert next(r for r in result['rows'] if r['variant'] == 'f32')['precision'] == 'f32'
    assert any(r['what'].startswith('online per-frame rate') for r in result['ratios'])
    table = benchmark.format_benchmark(result)
    assert 'CPU:' in table and '| encoder | int8 | LATENCY |' in table


def test_int8_f32_is_opt_in_and_gets_its_ratio_to_f32(rgb):
    _, _, _, out, _ = rgb
    default = benchmark.benchmark(out, threads=1, seconds=0.05, rounds=1, hints=('LATENCY',), parts=('decoder',))
    assert 'int8_f32' not in {r['variant'] for r in default['rows']}  # timed only when asked for
    result = benchmark.benchmark(out, threads=1, seconds=0.05, rounds=1, hints=('LATENCY',),
                                  variants=('f32', 'int8_f32'), parts=('decoder',))
    int8_f32 = next(r for r in result['rows'] if r['variant'] == 'int8_f32')
    assert 'bf16' not in int8_f32['precision']  # its float parts run in f32 even on a bf16 CPU
    assert [r['what'] for r in result['ratios'] if 'int8_f32 vs' in r['what']] == [
        'decoder int8_f32 vs f32 (f32), LATENCY']
