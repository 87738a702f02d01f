Feature: The autoregistration directory number range
  When autoregistration is enabled, the administrator specifies a range of
  directory numbers; each new phone gets the next available one. A range whose
  starting DN equals its ending DN disables autoregistration. When every DN is
  consumed, no more phones can autoregister. The external phone number mask's
  X's take the DN's trailing digits.

  Background:
    Given the sample cluster

  Scenario: Phones get the lowest free directory numbers, in turn
    Given autoregistration is open by "alice" because "bulk add"
    When 3 phones of model 7961 register over SCCP
    Then they are given directory numbers 1000, 1001 and 1002
    And 97 directory numbers are left
    And the registrar knows 3 devices, 3 of them registered

  Scenario: Directory numbers in use in the range's partition are skipped
    Given "alice" provisions phone SEP0000000000A1 of model 7961 with directory number 1000 in partition "Internal"
    And "alice" provisions phone SEP0000000000A2 of model 7961 with directory number 1002 in partition "Internal"
    And autoregistration is open by "alice" because "bulk add"
    When 3 phones of model 7961 register over SCCP
    Then they are given directory numbers 1001, 1003 and 1004
    And phone SEP0000000000A1 has directory number 1000
    And phone SEP0000000000A2 has directory number 1002

  Scenario: The same directory number in another partition does not count
    Given "alice" adds partition "Lab"
    And "alice" provisions phone SEP0000000000A1 of model 7961 with directory number 1000 in partition "Lab"
    And autoregistration is open by "alice" because "bulk add"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000
    And phone SEP0000000000A1 has directory number 1000

  Scenario: The range is exhausted at its last directory number, and the window closes with it
    Given "alice" sets the autoregistration range to 1000 through 1002
    And autoregistration is open by "alice" because "bulk add"
    When 3 phones of model 7961 register over SCCP
    Then they are given directory numbers 1000, 1001 and 1002
    And 0 directory numbers are left
    And the window is closed because the range is exhausted
    And the window closed after 3 registrations
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    And phone SEP00112233AABB is unknown
    When "alice" opens autoregistration because "more phones"
    Then the change is refused because the range is exhausted
    And the refusal says "widen the range or free DNs"

  Scenario: A window open on a range whose last DN went meanwhile refuses the next phone
    Given "alice" sets the autoregistration range to 1000 through 1002
    And "alice" provisions phone SEP0000000000A1 of model 7961 with directory number 1000
    And "alice" provisions phone SEP0000000000A2 of model 7961 with directory number 1001
    And autoregistration is open by "alice" because "bulk add"
    And "alice" provisions phone SEP0000000000A3 of model 7961 with directory number 1002
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the range is exhausted
    And the phone is told "DN range exhausted"
    And the history records 1 "dnrange.exhausted" event for SEP00112233AABB
    And the window is closed because the range is exhausted

  Scenario: A range whose starting DN equals its ending DN disables autoregistration
    When "alice" sets the autoregistration range to 1000 through 1000
    Then the change is accepted
    And the registrar reports the problem "the starting DN equals the ending DN (1000)"
    When "alice" opens autoregistration because "bulk add"
    Then the change is refused because the range is disabled
    And the refusal says "set a wider range"
    And autoregistration is closed

  Scenario: Disabling the range closes an open window at once
    Given autoregistration is open by "alice" because "bulk add"
    When "bob" sets the autoregistration range to 1050 through 1050
    Then the window is closed because the range was disabled
    And the window's close names "bob" and says "disables autoregistration"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed

  Scenario: A malformed range is refused
    When "alice" sets the autoregistration range to 1099 through 1000
    Then the change is refused because it is invalid
    When "alice" sets the autoregistration range to 1000 through 99999
    Then the change is refused because it is invalid
    And the refusal says "same number of digits"
    When "alice" sets the autoregistration range to 2000 through 2099 in partition "Nowhere"
    Then the change is refused because it names something that is missing, naming "Nowhere"

  Scenario: The external phone number mask's X's take the directory number's trailing digits
    Given "alice" sets the autoregistration range to 1000 through 1099 with external phone number mask "40855510XX"
    And autoregistration is open by "alice" because "bulk add"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000 with external phone number 4085551000
    When phone SEP00112233AABC of model 7961 registers over SCCP from 10.0.0.6
    Then it is given directory number 1001 with external phone number 4085551001

  Scenario: A mask with more X's than the directory number has digits
    Given "alice" sets the autoregistration range to 1000 through 1099 with external phone number mask "+1972555XXXX"
    And autoregistration is open by "alice" because "bulk add"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000 with external phone number +19725551000

  Scenario: Deleting a device frees its directory number for reuse
    Given autoregistration is open by "alice" because "bulk add"
    And 3 phones of model 7961 register over SCCP
    When "alice" deletes phone SEP0000CAFE0002
    Then phone SEP0000CAFE0002 is unknown
    And the history records "device.deleted" by "alice"
    And the history records "dnrange.dn_released" by "alice"
    And 98 directory numbers are left
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1001

  Scenario: Giving a device another directory number frees the old one
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    When "alice" gives phone SEP00112233AABB directory number 1050
    Then phone SEP00112233AABB has directory number 1050
    And the history records "device.reconfigured" by "alice"
    And the history records "dnrange.dn_released" by "alice"
    And the history records "dnrange.dn_claimed" by "alice"
    When phone SEP00112233AABC of model 7961 registers over SCCP from 10.0.0.6
    Then it is given directory number 1000
    And device SEP00112233AABC may dial 1050

  Scenario: A directory number is never held by two devices
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    When "alice" provisions phone SEP0000000000A1 of model 7961 with directory number 1000
    Then the change is refused because the directory number is in use, naming "SEP00112233AABB"
    And phone SEP0000000000A1 is unknown
    Given "alice" provisions phone SEP0000000000A1 of model 7961 with directory number 2000
    When "alice" gives phone SEP0000000000A1 directory number 1000
    Then the change is refused because the directory number is in use, naming "SEP00112233AABB"
    And phone SEP0000000000A1 has directory number 2000

  Scenario: A window whose time was up is recorded as closed by its deadline, even if the range is disabled before the timer ticks
    Given autoregistration is open for 30 minutes by "alice" because "bulk add"
    When 45 minutes pass before the registrar's timer ticks
    And "bob" sets the autoregistration range to 1050 through 1050
    Then the window is closed because the maximum duration elapsed
    And the window closed at its deadline
