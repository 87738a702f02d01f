Feature: Devices
  Devices are named SEP and the 12 hex digits of their MAC address. Unknown
  devices autoregister only while a window is open; known devices register at
  any time and keep their directory number, also after a move. Autoregistered
  devices land in the device pool their model's Device Defaults name, else the
  cluster default pool, with the autoregistration calling search space; the
  administrator then reconfigures them and assigns their permanent device pool
  (checklist step 8), or deletes them.

  Background:
    Given the sample cluster

  Scenario Outline: Device names are SEP and the 12 hex digits of the MAC
    Given autoregistration is open by "alice" because "bulk add"
    When phone <name> of model 7961 registers over SCCP from 10.0.0.5
    Then the registration is refused because it is invalid
    And the refusal says "SEP followed by the 12 hex digits of the MAC"
    And nothing new is recorded
    And the registrar knows 0 devices, 0 of them registered

    Examples:
      | name                |
      | SEP00112233aabb     |
      | SEP0011223344       |
      | SEP00112233AABBCC   |
      | ATA00112233AABB     |
      | SEP00112233AABG     |

  Scenario: A provisioned device must have a proper name too
    When "alice" provisions phone SEPCAFE of model 7961 with directory number 2000
    Then the change is refused because it is invalid
    And the refusal says "SEP followed by the 12 hex digits of the MAC"

  Scenario: An autoregistered device lands in the default pool with the autoregistration calling search space
    Given autoregistration is open by "alice" because "bulk add"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000
    And phone SEP00112233AABB is a 7961 speaking SCCP
    And phone SEP00112233AABB is in device pool "Default" with calling search space "AutoReg_CSS"
    And phone SEP00112233AABB is registered from 10.0.0.5

  Scenario: The Device Defaults of its model name the pool an autoregistered device lands in, and the pool its calling search space
    Given "alice" sets the Device Defaults of model 7961 to load "SCCP41.9-4-2SR3-1S" for SCCP and "SIP41.9-4-2SR3-1S" for SIP with device pool "HQ"
    And autoregistration is open by "alice" because "bulk add"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000
    # HQ has no Calling Search Space for Auto-registration: the phone dials
    # with HQ's own (the autoregistration one belongs to the default pool).
    And phone SEP00112233AABB is in device pool "HQ" with calling search space ""
    When phone SEP00112233AABC of model 7940 registers over SCCP from 10.0.0.6
    Then it is given directory number 1001
    And phone SEP00112233AABC is in device pool "Default" with calling search space "AutoReg_CSS"

  Scenario: A known device registers at any time and keeps its directory number
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    And "alice" closes autoregistration because "done"
    When phone SEP00112233AABB unregisters because of keepalive
    Then phone SEP00112233AABB is not registered
    And the history records "device.unregistered"
    When 3 hours pass
    And phone SEP00112233AABB registers again over SCCP from 10.0.0.5
    Then phone SEP00112233AABB keeps directory number 1000
    And phone SEP00112233AABB is registered from 10.0.0.5
    And the history records 1 "device.registered" event for SEP00112233AABB
    And the history records 1 "device.autoregistered" event for SEP00112233AABB

  Scenario: A registered device coming back from a new address has moved, and keeps its directory number
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    And "alice" closes autoregistration because "done"
    When phone SEP00112233AABB registers again over SCCP from 10.0.7.7
    Then phone SEP00112233AABB keeps directory number 1000
    And phone SEP00112233AABB is registered from 10.0.7.7
    And the history records phone SEP00112233AABB moving from 10.0.0.5 to 10.0.7.7

  Scenario: A phone unplugged and plugged in at another desk has moved
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    And "alice" closes autoregistration because "done"
    When phone SEP00112233AABB unregisters because of connection
    And phone SEP00112233AABB registers again over SCCP from 10.0.7.7
    Then phone SEP00112233AABB keeps directory number 1000
    And phone SEP00112233AABB is registered from 10.0.7.7
    And the history records phone SEP00112233AABB moving from 10.0.0.5 to 10.0.7.7

  Scenario: A phone the registrar does not know going away writes no event
    When phone SEP00112233AABB unregisters
    Then nothing new is recorded

  Scenario: A refresh writes no event
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    When phone SEP00112233AABB registers again over SCCP from 10.0.0.5
    Then phone SEP00112233AABB keeps directory number 1000
    And nothing new is recorded

  Scenario: A provisioned device registers while autoregistration is closed
    Given "alice" provisions phone SEP0000000000A1 of model 7961 with directory number 1042
    Then phone SEP0000000000A1 is in device pool "Default" with no calling search space of its own
    And the history records "device.provisioned" by "alice"
    And autoregistration is closed
    When phone SEP0000000000A1 registers over SCCP from 10.0.0.9
    Then phone SEP0000000000A1 keeps directory number 1042
    And phone SEP0000000000A1 is registered from 10.0.0.9

  Scenario: Assigning an autoregistered device to its permanent device pool (checklist step 8)
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then device SEP00112233AABB may not dial 95551234
    When "alice" moves phone SEP00112233AABB to device pool "HQ"
    Then phone SEP00112233AABB is in device pool "HQ" with no calling search space of its own
    And phone SEP00112233AABB keeps directory number 1000
    And the history records "device.reconfigured" by "alice"
    And device SEP00112233AABB may dial 95551234, 911 and 1000
    When "alice" moves phone SEP00112233AABB to device pool "Nowhere"
    Then the change is refused because it names something that is missing, naming "Nowhere"

  Scenario: Describing a device
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    When "alice" describes phone SEP00112233AABB as "Reception desk"
    Then phone SEP00112233AABB is described as "Reception desk"
    And the history records "device.reconfigured" by "alice"
    When "alice" describes phone SEP00112233AABB as "Reception desk"
    Then nothing new is recorded

  Scenario: A deleted device is unknown again and needs an open window to come back
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    And "alice" closes autoregistration because "done"
    When "alice" deletes phone SEP00112233AABB
    Then phone SEP00112233AABB is unknown
    And the registrar knows 0 devices, 0 of them registered
    When phone SEP00112233AABB registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    When "alice" deletes phone SEP00112233AABB
    Then the change is refused because it names something that is missing
    Given autoregistration is open by "alice" because "second chance"
    When phone SEP00112233AABB of model 7940 registers over SCCP from 10.0.0.8
    Then it is given directory number 1000
    And phone SEP00112233AABB is a 7940 speaking SCCP

  Scenario: Unknown devices register only while a window is open
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    And the refusal says "an administrator must open a window"
    Given autoregistration is open by "alice" because "bulk add"
    When 1 minute passes
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000

  Scenario: A registered phone refreshing after a restart of the registrar keeps its directory number
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    When the registrar restarts
    And phone SEP00112233AABB registers again over SCCP from 10.0.0.5
    Then phone SEP00112233AABB keeps directory number 1000
    And phone SEP00112233AABB is in device pool "Default" with calling search space "AutoReg_CSS"
    And nothing new is recorded
