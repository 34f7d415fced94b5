// ocpp-rig.mjs: the wattstreamd configuration the OCPP integration tests and
// benchmarks share: state and control socket in dir, the test CSMS, one
// connector on the simulated charger with its EV sensed over Modbus.
// Options change what a test needs changed; extraOcpp / extraConnector are
// appended to their sections.
export function ocppConfig(dir, csms, sim, {
  identity, state = `${dir}/state`, busTimeoutMs = 200, failsafeMs = 1000,
  maxPowerKw = 50, extraOcpp = '', extraConnector = '',
} = {}) {
  return `[station]
state_dir = ${state}
control_socket = ${dir}/control.sock
[ocpp]
url = ${csms.url}
identity = ${identity}
${extraOcpp}
[bus.default]
port = ${sim.port}
timeout_ms = ${busTimeoutMs}
[connector.1]
meter_poll_ms = 100
meter_failsafe_ms = ${failsafeMs}
${maxPowerKw ? `max_power_kw = ${maxPowerKw}` : ''}
ev_sense = modbus
${extraConnector}
`;
}
