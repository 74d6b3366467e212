@failure-mode @scenario-drs-unreachable
Feature: DRS unreachable
  A firewall blocks enterpriseregistration.windows.net; sign-in works but the device cannot reach DRS (80072efd).
  Guide section: AzureAdJoined : NO after setup

  Scenario: DRS unreachable: the symptom
    Given the scenario "drs-unreachable"
    When the user tries to join the PC as the scenario describes
    Then Settings shows the error code "80072efd"
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune

  Scenario: DRS unreachable: the fix repairs it
    Given the scenario "drs-unreachable"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
